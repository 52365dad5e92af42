import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import javax.management.MBeanServer;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;

/**
 * The scenario's state: which phase plays, the step `k` within it, the counters, and the MBeans
 * that show it all.
 *
 * <p>Every value is a pure function of (phase, k) plus counters that integrate per-tick
 * increments, so a timeline always produces the same trajectory (see README.md for the tables).
 * One tick = one step; the wall-clock tick length only scales "per second" quantities (counter
 * increments of rates, `last-rebalance-seconds-ago`, meters).
 */
final class Model {
    static final List<String> PHASES = Arrays.asList(
            "nan", "normal", "buffer-pressure", "buffer-overflow", "latency-divergence", "lag-spike",
            "rebalance-storm", "slow-dependencies", "poll-stall", "gc-pressure", "error-burst",
            "client-closed", "under-replicated", "broker-overload", "broker-outage", "recovery");

    /** Ticks over which `recovery` moves each gauge linearly from its entry value to normal. */
    static final int RECOVERY_TICKS = 5;
    /** A rebalance every this many ticks during `rebalance-storm`. */
    static final int STORM_PERIOD = 3;

    /** The gauges a phase sets. INTEGRAL ones are rounded; INSTANT ones do not ease in recovery. */
    enum G {
        UTIL, BATCH, SEND_RATE, LATENCY, ERR_RATE, RETRY_RATE, IO_WAIT, REQ_RATE, RESP_RATE,
        LAG_MAX(true, false), CONSUME_RATE, FETCH_LATENCY, FETCH_RATE, FETCH_SIZE,
        ASSIGNED(true, true), COMMIT_LATENCY, COMMIT_RATE, REBALANCE_LATENCY, HEARTBEAT_MAX,
        LAST_POLL(false, true), POLL_MAX, INVENTORY_LATENCY,
        URP(true, false), OFFLINE(true, false), ACTIVE_CONTROLLER(true, true), NET_IDLE, HANDLER_IDLE,
        // per-tick increments of counters: never eased
        EXHAUST_INC(true, true), ORDERS_INC(true, true), VALIDATION_INC(true, true),
        PAY_CALLS_INC(true, true), PAY_FAIL_INC(true, true), UNCLEAN_INC(true, true),
        ELECTION_INC(true, true);

        final boolean integral;
        final boolean instant;

        G() {
            this(false, false);
        }

        G(boolean integral, boolean instant) {
            this.integral = integral;
            this.instant = instant;
        }
    }

    /** Gauges that read NaN before a first sample (and in the `nan` phase). */
    private static final G[] AVG_MAX = {G.BATCH, G.LATENCY, G.IO_WAIT, G.FETCH_LATENCY, G.FETCH_SIZE,
        G.LAG_MAX, G.COMMIT_LATENCY, G.REBALANCE_LATENCY, G.HEARTBEAT_MAX, G.POLL_MAX, G.INVENTORY_LATENCY};
    /** Rates that read 0 before a first sample. */
    private static final G[] RATES = {G.UTIL, G.SEND_RATE, G.ERR_RATE, G.RETRY_RATE, G.REQ_RATE, G.RESP_RATE,
        G.CONSUME_RATE, G.FETCH_RATE, G.COMMIT_RATE, G.ASSIGNED, G.ORDERS_INC, G.PAY_CALLS_INC};

    static final double BYTES_PER_RECORD_OUT = 600;
    static final double BYTES_PER_RECORD_IN = 500;
    static final double COMPRESSION_RATE = 0.6;
    static final double FOLLOWER_FETCH_RATE = 20;

    final Options o;
    final double tickSeconds;
    private final MBeanServer server = ManagementFactory.getPlatformMBeanServer();
    private final Map<String, Bean> beans = new LinkedHashMap<>();

    // timeline position
    private final Timeline timeline;
    private int entry;
    private boolean manual;
    private String phase;
    private long k;
    private boolean phaseAnnounced;
    boolean paused;

    long tick;
    private double[] last;
    private double[] recoveryFrom;

    // counters
    private double exhausted;
    private double sendTotal;
    private double errorTotal;
    private double retryTotal;
    private boolean producerClosed;
    private double consumedTotal;
    private double fetchTotal;
    private double commitTotal;
    private double rebalanceTotal;
    private double failedRebalanceTotal;
    private boolean joined;
    private long ticksSinceRebalance;
    private long orders;
    private long validationFailures;
    private long paymentCalls;
    private long paymentFailures;
    private long produceRequests;
    private long fetchConsumerRequests;
    private long fetchFollowerRequests;
    private int lastUrp;

    // broker meters
    private final Meter bytesIn;
    private final Meter bytesOut;
    private final Meter messagesIn;
    private final Meter[] topicBytesIn;
    private final Meter[] topicBytesOut;
    private final Meter[] topicMessagesIn;
    private final Meter isrShrinks;
    private final Meter isrExpands;
    private final Meter elections;
    private final Meter unclean;
    private long handlerIdleCount;

    // gc-pressure
    private Object[] liveSet;

    Model(Options o) throws Exception {
        this.o = o;
        this.tickSeconds = o.tickMs / 1000.0;
        this.timeline = o.timeline;
        this.phase = timeline.entries.get(0).phase;
        this.paused = o.paused;
        bytesIn = new Meter(tickSeconds);
        bytesOut = new Meter(tickSeconds);
        messagesIn = new Meter(tickSeconds);
        int n = o.topics.size();
        topicBytesIn = new Meter[n];
        topicBytesOut = new Meter[n];
        topicMessagesIn = new Meter[n];
        for (int i = 0; i < n; i++) {
            topicBytesIn[i] = new Meter(tickSeconds);
            topicBytesOut[i] = new Meter(tickSeconds);
            topicMessagesIn[i] = new Meter(tickSeconds);
        }
        isrShrinks = new Meter(tickSeconds);
        isrExpands = new Meter(tickSeconds);
        elections = new Meter(tickSeconds);
        unclean = new Meter(tickSeconds);
        defineBeans();
        last = frame("nan", 0);
        apply(last);
    }

    String phase() {
        return phase;
    }

    long k() {
        return k;
    }

    // ---------------------------------------------------------------- the trajectories

    private int partitionsAssigned() {
        return o.topics.size() * o.partitions;
    }

    private static double seq(long k, double... values) {
        return values[(int) Math.min(k, values.length - 1)];
    }

    /** The normal values at step k (the target of `recovery`). */
    double[] normal(long k) {
        double[] f = new double[G.values().length];
        f[G.UTIL.ordinal()] = 0.5;
        f[G.BATCH.ordinal()] = 12000;
        f[G.SEND_RATE.ordinal()] = 1000;
        f[G.LATENCY.ordinal()] = 50;
        f[G.IO_WAIT.ordinal()] = 2_000_000;
        f[G.REQ_RATE.ordinal()] = 100;
        f[G.RESP_RATE.ordinal()] = 100;
        f[G.LAG_MAX.ordinal()] = k % 2 == 0 ? 100 : 60;
        f[G.CONSUME_RATE.ordinal()] = 1000;
        f[G.FETCH_LATENCY.ordinal()] = 20;
        f[G.FETCH_RATE.ordinal()] = 50;
        f[G.FETCH_SIZE.ordinal()] = 10_000;
        f[G.ASSIGNED.ordinal()] = partitionsAssigned();
        f[G.COMMIT_LATENCY.ordinal()] = 15;
        f[G.COMMIT_RATE.ordinal()] = 0.2;
        f[G.REBALANCE_LATENCY.ordinal()] = 300;
        f[G.HEARTBEAT_MAX.ordinal()] = 10;
        f[G.LAST_POLL.ordinal()] = 0;
        f[G.POLL_MAX.ordinal()] = 120;
        f[G.INVENTORY_LATENCY.ordinal()] = 45;
        f[G.ACTIVE_CONTROLLER.ordinal()] = 1;
        f[G.NET_IDLE.ordinal()] = 0.9;
        f[G.HANDLER_IDLE.ordinal()] = 0.85;
        f[G.ORDERS_INC.ordinal()] = 100;
        f[G.PAY_CALLS_INC.ordinal()] = 100;
        return f;
    }

    /** The gauges of `phase` at step `k`. */
    double[] frame(String phase, long k) {
        double[] f = normal(k);
        switch (phase) {
            case "nan":
                for (G g : AVG_MAX) f[g.ordinal()] = Double.NaN;
                for (G g : RATES) f[g.ordinal()] = 0;
                f[G.LAST_POLL.ordinal()] = -1;
                break;
            case "buffer-pressure":
                f[G.UTIL.ordinal()] = seq(k, 0.70, 0.85);
                f[G.BATCH.ordinal()] = seq(k, 13000, 14000);
                break;
            case "buffer-overflow":
                f[G.UTIL.ordinal()] = 0.97;
                f[G.BATCH.ordinal()] = 16384;
                f[G.EXHAUST_INC.ordinal()] = 2;
                break;
            case "latency-divergence":
                f[G.LATENCY.ordinal()] = seq(k, 75, 100, 150, 300, 500);
                break;
            case "lag-spike":
                if (k < 9) {
                    f[G.LAG_MAX.ordinal()] = seq(k, 1000, 2500, 12000, 12000, 9000, 6000, 3000, 1500, 800);
                    f[G.CONSUME_RATE.ordinal()] = k < 4 ? 200 : 2500;
                }
                break;
            case "rebalance-storm":
                if (k % STORM_PERIOD == 0) {
                    f[G.ASSIGNED.ordinal()] = 0;
                    f[G.CONSUME_RATE.ordinal()] = 0;
                }
                f[G.REBALANCE_LATENCY.ordinal()] = 6000;
                f[G.HEARTBEAT_MAX.ordinal()] = 250;
                break;
            case "slow-dependencies":
                f[G.FETCH_LATENCY.ordinal()] = 800;
                f[G.COMMIT_LATENCY.ordinal()] = 1500;
                f[G.INVENTORY_LATENCY.ordinal()] = 1500;
                break;
            case "poll-stall":
                f[G.LAST_POLL.ordinal()] = 60.0 * (k + 1);
                f[G.LAG_MAX.ordinal()] = 100;
                f[G.CONSUME_RATE.ordinal()] = 0;
                f[G.FETCH_RATE.ordinal()] = 0;
                break;
            case "error-burst":
                f[G.ERR_RATE.ordinal()] = 5;
                f[G.RETRY_RATE.ordinal()] = 12;
                f[G.VALIDATION_INC.ordinal()] = 3;
                f[G.PAY_FAIL_INC.ordinal()] = 2;
                break;
            case "under-replicated":
                f[G.URP.ordinal()] = seq(k, 1, 2);
                break;
            case "broker-overload":
                f[G.NET_IDLE.ordinal()] = 0.2;
                f[G.HANDLER_IDLE.ordinal()] = 0.05;
                break;
            case "broker-outage":
                f[G.OFFLINE.ordinal()] = 2;
                f[G.ACTIVE_CONTROLLER.ordinal()] = 0;
                f[G.UNCLEAN_INC.ordinal()] = k == 0 ? 1 : 0;
                f[G.ELECTION_INC.ordinal()] = k == 0 ? 2 : 0;
                break;
            case "recovery": {
                double step = Math.min(1.0, (k + 1) / (double) RECOVERY_TICKS);
                double[] from = recoveryFrom == null ? f : recoveryFrom;
                for (G g : G.values()) {
                    int i = g.ordinal();
                    if (!g.instant && !Double.isNaN(from[i])) {
                        f[i] = from[i] + (f[i] - from[i]) * step;
                    }
                }
                break;
            }
            default:
                // normal, gc-pressure, client-closed: normal values
                break;
        }
        for (G g : G.values()) {
            int i = g.ordinal();
            f[i] = g.integral && !Double.isNaN(f[i]) ? Math.round(f[i]) : round6(f[i]);
        }
        return f;
    }

    static double round6(double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return v;
        }
        return Math.round(v * 1e6) / 1e6;
    }

    // ---------------------------------------------------------------- ticking

    /** Advances one step: picks the phase, computes its values, steps the counters, shows them. */
    synchronized void tick() {
        Timeline.Entry current = timeline.entries.get(entry);
        if (!manual && current.ticks >= 0 && k >= current.ticks) {
            if (entry + 1 < timeline.entries.size()) {
                entry++;
                enter(timeline.entries.get(entry).phase);
            } else if (o.loop) {
                entry = 0;
                enter(timeline.entries.get(0).phase);
            }
        }
        tick++;
        if (!phaseAnnounced) {
            phaseAnnounced = true;
            if (phase.equals("recovery")) {
                recoveryFrom = last;
            }
            ScenarioMain.emit("PHASE " + phase + " tick=" + tick);
        }
        if (!phase.equals("gc-pressure")) {
            liveSet = null;
        }
        double[] f = frame(phase, k);
        step(f);
        apply(f);
        last = f;
        ScenarioMain.emit("TICK " + tick + " phase=" + phase + " k=" + k);
        if (phase.equals("gc-pressure")) {
            gcPressure();
        }
        k++;
    }

    private void enter(String next) {
        phase = next;
        k = 0;
        phaseAnnounced = false;
    }

    /** Switches to `next` at the next tick and leaves the timeline (manual control). */
    synchronized void setPhase(String next) {
        if (!PHASES.contains(next)) {
            throw new IllegalArgumentException("unknown phase '" + next + "'; known phases: "
                    + String.join(", ", PHASES));
        }
        manual = true;
        enter(next);
    }

    private double v(double[] f, G g) {
        return f[g.ordinal()];
    }

    private void step(double[] f) {
        boolean nan = phase.equals("nan");
        boolean closed = phase.equals("client-closed");
        if (!closed && producerClosed) {
            // A new KafkaProducer with the same client-id: its metrics start from zero.
            exhausted = 0;
            sendTotal = 0;
            errorTotal = 0;
            retryTotal = 0;
        }
        producerClosed = closed;
        if (!closed) {
            exhausted += v(f, G.EXHAUST_INC);
            sendTotal += v(f, G.SEND_RATE) * tickSeconds;
            errorTotal += v(f, G.ERR_RATE) * tickSeconds;
            retryTotal += v(f, G.RETRY_RATE) * tickSeconds;
        }
        consumedTotal += v(f, G.CONSUME_RATE) * tickSeconds;
        fetchTotal += v(f, G.FETCH_RATE) * tickSeconds;
        commitTotal += v(f, G.COMMIT_RATE) * tickSeconds;
        if (!nan) {
            boolean storm = phase.equals("rebalance-storm");
            if (!joined || (storm && k % STORM_PERIOD == 0)) {
                rebalanceTotal++;
                ticksSinceRebalance = 0;
                joined = true;
            } else {
                ticksSinceRebalance++;
            }
            if (storm && k % (2 * STORM_PERIOD) == STORM_PERIOD) {
                failedRebalanceTotal++;
            }
        } else if (joined) {
            ticksSinceRebalance++;
        }
        orders += (long) v(f, G.ORDERS_INC);
        validationFailures += (long) v(f, G.VALIDATION_INC);
        paymentCalls += (long) v(f, G.PAY_CALLS_INC);
        paymentFailures += (long) v(f, G.PAY_FAIL_INC);

        produceRequests += Math.round(v(f, G.REQ_RATE) * tickSeconds);
        fetchConsumerRequests += Math.round(v(f, G.FETCH_RATE) * tickSeconds);
        fetchFollowerRequests += Math.round(FOLLOWER_FETCH_RATE * tickSeconds);
        double in = v(f, G.SEND_RATE) * BYTES_PER_RECORD_OUT * tickSeconds;
        double out = v(f, G.CONSUME_RATE) * BYTES_PER_RECORD_IN * tickSeconds;
        double msgs = v(f, G.SEND_RATE) * tickSeconds;
        int n = o.topics.size();
        bytesIn.mark(Math.round(in));
        bytesOut.mark(Math.round(out));
        messagesIn.mark(Math.round(msgs));
        for (int i = 0; i < n; i++) {
            topicBytesIn[i].mark(Math.round(in / n));
            topicBytesOut[i].mark(Math.round(out / n));
            topicMessagesIn[i].mark(Math.round(msgs / n));
        }
        int urp = (int) v(f, G.URP);
        isrShrinks.mark(Math.max(0, urp - lastUrp));
        isrExpands.mark(Math.max(0, lastUrp - urp));
        lastUrp = urp;
        elections.mark((long) v(f, G.ELECTION_INC));
        unclean.mark((long) v(f, G.UNCLEAN_INC));
        handlerIdleCount += Math.round(v(f, G.HANDLER_IDLE) * tickSeconds * 1e9);
    }

    /**
     * Real garbage collections, since the java.lang GC MBeans cannot be faked: keep a live set
     * of small objects (slow to mark) and call System.gc() until a share of the tick is spent.
     */
    private void gcPressure() {
        if (liveSet == null) {
            liveSet = new Object[o.gcLiveObjects];
            for (int i = 0; i < liveSet.length; i++) {
                liveSet[i] = new long[6];
            }
        }
        long budgetMs = Math.min(3000, Math.round(o.tickMs * o.gcBudget));
        long[] before = gcTotals();
        long start = System.nanoTime();
        do {
            System.gc();
        } while ((System.nanoTime() - start) / 1_000_000 < budgetMs);
        long[] after = gcTotals();
        ScenarioMain.emit("GC tick=" + tick + " collections=+" + (after[0] - before[0])
                + " time_ms=+" + (after[1] - before[1]));
    }

    /** Runs `n` full collections now (for exact CollectionCount deltas in tests). */
    synchronized long[] gc(int n) {
        long[] before = gcTotals();
        for (int i = 0; i < n; i++) {
            System.gc();
        }
        long[] after = gcTotals();
        return new long[] {after[0] - before[0], after[1] - before[1]};
    }

    private static long[] gcTotals() {
        long count = 0;
        long time = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            count += Math.max(0, gc.getCollectionCount());
            time += Math.max(0, gc.getCollectionTime());
        }
        return new long[] {count, time};
    }

    // ---------------------------------------------------------------- the MBeans

    private Bean bean(String name, String description, boolean producer) throws MalformedObjectNameException {
        Bean b = new Bean(new ObjectName(name), description, producer);
        beans.put(b.name.getCanonicalName(), b);
        return b;
    }

    private static final String D = "double";

    private void defineBeans() throws Exception {
        boolean client = !o.role.equals("broker");
        boolean broker = !o.role.equals("client");
        if (client) {
            for (String id : o.producers) {
                bean("kafka.producer:type=producer-metrics,client-id=" + id, "Kafka producer metrics", true)
                        .define("buffer-available-bytes", D, 0.0)
                        .define("buffer-total-bytes", D, 0.0)
                        .define("buffer-exhausted-total", D, 0.0)
                        .define("buffer-exhausted-rate", D, 0.0)
                        .define("batch-size-avg", D, 0.0)
                        .define("batch-size-max", D, 0.0)
                        .define("record-send-rate", D, 0.0)
                        .define("record-send-total", D, 0.0)
                        .define("request-latency-avg", D, 0.0)
                        .define("request-latency-max", D, 0.0)
                        .define("record-error-rate", D, 0.0)
                        .define("record-error-total", D, 0.0)
                        .define("record-retry-rate", D, 0.0)
                        .define("record-retry-total", D, 0.0)
                        .define("io-wait-time-ns-avg", D, 0.0)
                        .define("outgoing-byte-rate", D, 0.0)
                        .define("request-rate", D, 0.0)
                        .define("response-rate", D, 0.0)
                        .define("compression-rate-avg", D, 0.0);
                for (String t : o.topics) {
                    bean("kafka.producer:type=producer-topic-metrics,client-id=" + id + ",topic=" + t,
                            "Kafka producer topic metrics", true)
                            .define("record-send-rate", D, 0.0)
                            .define("record-send-total", D, 0.0)
                            .define("record-error-rate", D, 0.0)
                            .define("record-retry-rate", D, 0.0)
                            .define("byte-rate", D, 0.0)
                            .define("compression-rate", D, 0.0);
                }
            }
            for (String id : o.consumers) {
                String fm = "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=" + id;
                bean(fm, "Kafka consumer fetch manager metrics", false)
                        .define("records-lag-max", D, 0.0)
                        .define("records-consumed-rate", D, 0.0)
                        .define("records-consumed-total", D, 0.0)
                        .define("bytes-consumed-rate", D, 0.0)
                        .define("fetch-latency-avg", D, 0.0)
                        .define("fetch-latency-max", D, 0.0)
                        .define("fetch-rate", D, 0.0)
                        .define("fetch-total", D, 0.0)
                        .define("fetch-size-avg", D, 0.0);
                for (String t : o.topics) {
                    bean(fm + ",topic=" + t, "Kafka consumer topic fetch metrics", false)
                            .define("records-consumed-rate", D, 0.0)
                            .define("bytes-consumed-rate", D, 0.0)
                            .define("fetch-size-avg", D, 0.0);
                    for (int p = 0; p < o.partitions; p++) {
                        bean(fm + ",topic=" + t + ",partition=" + p, "Kafka consumer partition fetch metrics", false)
                                .define("records-lag", D, 0.0)
                                .define("records-lag-max", D, 0.0)
                                .define("records-lag-avg", D, 0.0);
                    }
                }
                bean("kafka.consumer:type=consumer-coordinator-metrics,client-id=" + id,
                        "Kafka consumer coordinator metrics", false)
                        .define("assigned-partitions", D, 0.0)
                        .define("commit-latency-avg", D, 0.0)
                        .define("commit-latency-max", D, 0.0)
                        .define("commit-rate", D, 0.0)
                        .define("commit-total", D, 0.0)
                        .define("rebalance-latency-avg", D, 0.0)
                        .define("rebalance-latency-max", D, 0.0)
                        .define("rebalance-total", D, 0.0)
                        .define("failed-rebalance-total", D, 0.0)
                        .define("last-rebalance-seconds-ago", D, 0.0)
                        .define("heartbeat-response-time-max", D, 0.0);
                bean("kafka.consumer:type=consumer-metrics,client-id=" + id, "Kafka consumer metrics", false)
                        .define("last-poll-seconds-ago", D, 0.0)
                        .define("time-between-poll-max", D, 0.0);
            }
            bean(o.businessBean, "Business metrics of " + o.service, false)
                    .define("orders-processed-count", "long", 0L)
                    .define("order-validation-failures", "long", 0L)
                    .define("inventory-check-latency", D, 0.0)
                    .define("payment-gateway-calls", "long", 0L)
                    .define("payment-gateway-failures", "long", 0L);
        }
        if (broker) {
            gauge("kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions");
            gauge("kafka.server:type=ReplicaManager,name=PartitionCount");
            gauge("kafka.server:type=ReplicaManager,name=LeaderCount");
            gauge("kafka.controller:type=KafkaController,name=OfflinePartitionsCount");
            gauge("kafka.controller:type=KafkaController,name=ActiveControllerCount");
            bean("kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent", "Yammer gauge", false)
                    .define("Value", "java.lang.Object", 0.0);
            for (String name : new String[] {"BytesInPerSec", "BytesOutPerSec", "MessagesInPerSec"}) {
                String event = name.startsWith("Messages") ? "messages" : "bytes";
                meter("kafka.server:type=BrokerTopicMetrics,name=" + name, event);
                for (String t : o.topics) {
                    meter("kafka.server:type=BrokerTopicMetrics,name=" + name + ",topic=" + t, event);
                }
            }
            for (String request : new String[] {"Produce", "FetchConsumer", "FetchFollower"}) {
                histogram("kafka.network:type=RequestMetrics,name=TotalTimeMs,request=" + request);
            }
            meter("kafka.server:type=ReplicaManager,name=IsrShrinksPerSec", "shrinks");
            meter("kafka.server:type=ReplicaManager,name=IsrExpandsPerSec", "expands");
            meter("kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent", "percent");
            histogram(meter("kafka.controller:type=ControllerStats,name=LeaderElectionRateAndTimeMs", "calls"));
            meter("kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec", "elections");
        }
        for (Bean b : beans.values()) {
            register(b);
        }
    }

    private Bean gauge(String name) throws MalformedObjectNameException {
        return bean(name, "Yammer gauge", false).define("Value", "java.lang.Object", 0);
    }

    private Bean meter(String name, String eventType) throws MalformedObjectNameException {
        return bean(name, "Yammer meter", false)
                .define("Count", "long", 0L)
                .define("MeanRate", D, 0.0)
                .define("OneMinuteRate", D, 0.0)
                .define("FiveMinuteRate", D, 0.0)
                .define("FifteenMinuteRate", D, 0.0)
                .define("EventType", "java.lang.String", eventType)
                .define("RateUnit", "java.util.concurrent.TimeUnit", TimeUnit.SECONDS);
    }

    private static final String[] HISTOGRAM = {"Min", "Max", "Mean", "StdDev", "50thPercentile",
        "75thPercentile", "95thPercentile", "98thPercentile", "99thPercentile", "999thPercentile"};
    /** Each histogram attribute as a multiple of the mean (Mean = 1). */
    private static final double[] HISTOGRAM_SHAPE = {0.2, 8, 1, 1, 0.6, 0.8, 2, 3, 4, 6};

    private Bean histogram(String name) throws MalformedObjectNameException {
        return histogram(bean(name, "Yammer histogram", false).define("Count", "long", 0L));
    }

    private Bean histogram(Bean b) {
        for (String a : HISTOGRAM) {
            b.define(a, D, 0.0);
        }
        return b;
    }

    private void register(Bean b) {
        try {
            server.registerMBean(b, b.name);
            b.registered = true;
        } catch (Exception e) {
            ScenarioMain.emit("ERR register " + b.name + " : " + e);
        }
    }

    private void unregisterBean(Bean b) {
        try {
            server.unregisterMBean(b.name);
        } catch (Exception e) {
            // already gone
        }
        b.registered = false;
    }

    /** Registers or unregisters each bean as the phase and the `unregister` command want. */
    private void syncRegistrations() {
        // Before the first tick the timeline has not started: everything is registered.
        boolean closed = tick > 0 && phase.equals("client-closed");
        for (Bean b : beans.values()) {
            boolean want = !b.hidden && !(b.producer && closed);
            if (want && !b.registered) {
                register(b);
                ScenarioMain.emit("REGISTERED " + b.name);
            } else if (!want && b.registered) {
                unregisterBean(b);
                ScenarioMain.emit("UNREGISTERED " + b.name);
            }
        }
    }

    private Bean get(String name) {
        return beans.get(name);
    }

    private void set(String name, String attr, Object value) {
        Bean b = beans.get(name);
        if (b != null) {
            b.update(attr, value);
        }
    }

    private String canonical(String name) {
        try {
            return new ObjectName(name).getCanonicalName();
        } catch (MalformedObjectNameException e) {
            throw new IllegalStateException(e);
        }
    }

    private void apply(double[] f) {
        double total = o.bufferTotal;
        double send = v(f, G.SEND_RATE);
        double latency = v(f, G.LATENCY);
        double batch = v(f, G.BATCH);
        int n = o.topics.size();
        for (String id : o.producers) {
            String pm = canonical("kafka.producer:type=producer-metrics,client-id=" + id);
            set(pm, "buffer-total-bytes", total);
            set(pm, "buffer-available-bytes", (double) Math.round(total * (1 - v(f, G.UTIL))));
            set(pm, "buffer-exhausted-total", exhausted);
            set(pm, "buffer-exhausted-rate", round6(v(f, G.EXHAUST_INC) / tickSeconds));
            set(pm, "batch-size-avg", batch);
            set(pm, "batch-size-max", Double.isNaN(batch) ? Double.NaN : Math.max(batch, 16384.0));
            set(pm, "record-send-rate", send);
            set(pm, "record-send-total", round6(sendTotal));
            set(pm, "request-latency-avg", latency);
            set(pm, "request-latency-max", round6(latency * 2));
            set(pm, "record-error-rate", v(f, G.ERR_RATE));
            set(pm, "record-error-total", round6(errorTotal));
            set(pm, "record-retry-rate", v(f, G.RETRY_RATE));
            set(pm, "record-retry-total", round6(retryTotal));
            set(pm, "io-wait-time-ns-avg", v(f, G.IO_WAIT));
            set(pm, "outgoing-byte-rate", round6(send * BYTES_PER_RECORD_OUT));
            set(pm, "request-rate", v(f, G.REQ_RATE));
            set(pm, "response-rate", v(f, G.RESP_RATE));
            set(pm, "compression-rate-avg", Double.isNaN(batch) ? Double.NaN : COMPRESSION_RATE);
            for (int i = 0; i < n; i++) {
                String tm = canonical("kafka.producer:type=producer-topic-metrics,client-id=" + id
                        + ",topic=" + o.topics.get(i));
                set(tm, "record-send-rate", round6(send / n));
                set(tm, "record-send-total", round6(sendTotal / n));
                set(tm, "record-error-rate", i == 0 ? v(f, G.ERR_RATE) : 0.0);
                set(tm, "record-retry-rate", i == 0 ? v(f, G.RETRY_RATE) : 0.0);
                set(tm, "byte-rate", round6(send * BYTES_PER_RECORD_OUT / n));
                set(tm, "compression-rate", Double.isNaN(batch) ? Double.NaN : COMPRESSION_RATE);
            }
        }
        double consume = v(f, G.CONSUME_RATE);
        double lag = v(f, G.LAG_MAX);
        for (String id : o.consumers) {
            String fm = "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=" + id;
            String c = canonical(fm);
            set(c, "records-lag-max", lag);
            set(c, "records-consumed-rate", consume);
            set(c, "records-consumed-total", round6(consumedTotal));
            set(c, "bytes-consumed-rate", round6(consume * BYTES_PER_RECORD_IN));
            set(c, "fetch-latency-avg", v(f, G.FETCH_LATENCY));
            set(c, "fetch-latency-max", round6(v(f, G.FETCH_LATENCY) * 2));
            set(c, "fetch-rate", v(f, G.FETCH_RATE));
            set(c, "fetch-total", round6(fetchTotal));
            set(c, "fetch-size-avg", v(f, G.FETCH_SIZE));
            for (String t : o.topics) {
                String tc = canonical(fm + ",topic=" + t);
                set(tc, "records-consumed-rate", round6(consume / n));
                set(tc, "bytes-consumed-rate", round6(consume * BYTES_PER_RECORD_IN / n));
                set(tc, "fetch-size-avg", v(f, G.FETCH_SIZE));
                for (int p = 0; p < o.partitions; p++) {
                    double share = 1.0 - 0.25 * Math.min(p, 2);
                    double pl = Double.isNaN(lag) ? Double.NaN : (double) Math.round(lag * share);
                    String pc = canonical(fm + ",topic=" + t + ",partition=" + p);
                    set(pc, "records-lag", pl);
                    set(pc, "records-lag-max", pl);
                    set(pc, "records-lag-avg", pl);
                }
            }
            String cc = canonical("kafka.consumer:type=consumer-coordinator-metrics,client-id=" + id);
            set(cc, "assigned-partitions", v(f, G.ASSIGNED));
            set(cc, "commit-latency-avg", v(f, G.COMMIT_LATENCY));
            set(cc, "commit-latency-max", round6(v(f, G.COMMIT_LATENCY) * 2));
            set(cc, "commit-rate", v(f, G.COMMIT_RATE));
            set(cc, "commit-total", round6(commitTotal));
            double rebalanceLatency = joined ? v(f, G.REBALANCE_LATENCY) : Double.NaN;
            set(cc, "rebalance-latency-avg", rebalanceLatency);
            set(cc, "rebalance-latency-max", rebalanceLatency);
            set(cc, "rebalance-total", rebalanceTotal);
            set(cc, "failed-rebalance-total", failedRebalanceTotal);
            set(cc, "last-rebalance-seconds-ago", joined ? round6(ticksSinceRebalance * tickSeconds) : -1.0);
            set(cc, "heartbeat-response-time-max", v(f, G.HEARTBEAT_MAX));
            String cm = canonical("kafka.consumer:type=consumer-metrics,client-id=" + id);
            set(cm, "last-poll-seconds-ago", v(f, G.LAST_POLL));
            set(cm, "time-between-poll-max", v(f, G.POLL_MAX));
        }
        String biz = canonical(o.businessBean);
        set(biz, "orders-processed-count", orders);
        set(biz, "order-validation-failures", validationFailures);
        set(biz, "inventory-check-latency", v(f, G.INVENTORY_LATENCY));
        set(biz, "payment-gateway-calls", paymentCalls);
        set(biz, "payment-gateway-failures", paymentFailures);

        // broker
        set(canonical("kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions"), "Value", (int) v(f, G.URP));
        set(canonical("kafka.server:type=ReplicaManager,name=PartitionCount"), "Value", partitionsAssigned());
        set(canonical("kafka.server:type=ReplicaManager,name=LeaderCount"), "Value", partitionsAssigned());
        set(canonical("kafka.controller:type=KafkaController,name=OfflinePartitionsCount"), "Value", (int) v(f, G.OFFLINE));
        set(canonical("kafka.controller:type=KafkaController,name=ActiveControllerCount"), "Value", (int) v(f, G.ACTIVE_CONTROLLER));
        set(canonical("kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent"), "Value", v(f, G.NET_IDLE));
        showMeter("kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec", bytesIn);
        showMeter("kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec", bytesOut);
        showMeter("kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec", messagesIn);
        for (int i = 0; i < n; i++) {
            String t = ",topic=" + o.topics.get(i);
            showMeter("kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec" + t, topicBytesIn[i]);
            showMeter("kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec" + t, topicBytesOut[i]);
            showMeter("kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec" + t, topicMessagesIn[i]);
        }
        double produceMean = Double.isNaN(latency) ? 0 : latency / 10;
        double fetchMean = Double.isNaN(v(f, G.FETCH_LATENCY)) ? 0 : v(f, G.FETCH_LATENCY);
        showHistogram("kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce", produceRequests, produceMean);
        showHistogram("kafka.network:type=RequestMetrics,name=TotalTimeMs,request=FetchConsumer", fetchConsumerRequests, fetchMean);
        showHistogram("kafka.network:type=RequestMetrics,name=TotalTimeMs,request=FetchFollower", fetchFollowerRequests, 500);
        showMeter("kafka.server:type=ReplicaManager,name=IsrShrinksPerSec", isrShrinks);
        showMeter("kafka.server:type=ReplicaManager,name=IsrExpandsPerSec", isrExpands);
        String idle = canonical("kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent");
        set(idle, "Count", handlerIdleCount);
        for (String a : new String[] {"MeanRate", "OneMinuteRate", "FiveMinuteRate", "FifteenMinuteRate"}) {
            set(idle, a, v(f, G.HANDLER_IDLE));
        }
        String le = "kafka.controller:type=ControllerStats,name=LeaderElectionRateAndTimeMs";
        showMeter(le, elections);
        showHistogram(le, elections.count, elections.count == 0 ? 0 : 250);
        showMeter("kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec", unclean);
        syncRegistrations();
    }

    private void showMeter(String name, Meter m) {
        String c = canonical(name);
        set(c, "Count", m.count);
        set(c, "MeanRate", m.meanRate());
        set(c, "OneMinuteRate", m.rate(60));
        set(c, "FiveMinuteRate", m.rate(300));
        set(c, "FifteenMinuteRate", m.rate(900));
    }

    private void showHistogram(String name, long count, double mean) {
        String c = canonical(name);
        set(c, "Count", count);
        for (int i = 0; i < HISTOGRAM.length; i++) {
            set(c, HISTOGRAM[i], round6(mean * HISTOGRAM_SHAPE[i]));
        }
    }

    // ---------------------------------------------------------------- commands

    private List<Bean> matching(String pattern) throws MalformedObjectNameException {
        ObjectName p = new ObjectName(pattern);
        List<Bean> found = new ArrayList<>();
        for (Bean b : beans.values()) {
            if (p.apply(b.name)) {
                found.add(b);
            }
        }
        return found;
    }

    /** Pins a value; creates (and registers) the MBean when it does not exist. */
    synchronized Object pin(String name, String attr, String value) throws Exception {
        String c = canonical(name);
        Bean b = beans.get(c);
        if (b == null) {
            b = bean(name, "Created by the set command", false);
            Object v = b.pin(attr, value);
            register(b);
            ScenarioMain.emit("REGISTERED " + b.name);
            return v;
        }
        return b.pin(attr, value);
    }

    synchronized void unpin(String name, String attr) {
        Bean b = beans.get(canonical(name));
        if (b == null || !b.unpin(attr)) {
            throw new IllegalArgumentException("no attribute " + attr + " on " + name);
        }
    }

    synchronized void unpinAll() {
        for (Bean b : beans.values()) {
            b.unpinAll();
        }
    }

    synchronized int unregister(String pattern) throws MalformedObjectNameException {
        List<Bean> found = matching(pattern);
        for (Bean b : found) {
            b.hidden = true;
        }
        syncRegistrations();
        return found.size();
    }

    synchronized int register(String pattern) throws MalformedObjectNameException {
        List<Bean> found = matching(pattern);
        for (Bean b : found) {
            b.hidden = false;
        }
        syncRegistrations();
        return found.size();
    }

    synchronized Object value(String name, String attr) {
        Bean b = get(canonical(name));
        Object v = b == null ? null : b.value(attr);
        if (v == null) {
            throw new IllegalArgumentException("no attribute " + attr + " on " + name);
        }
        return v;
    }

    synchronized boolean registered(String name) {
        Bean b = get(canonical(name));
        return b != null && b.registered;
    }

    synchronized String status() {
        return "tick=" + tick + " phase=" + phase + " k=" + k + " paused=" + paused
                + " timeline=" + (manual ? "manual" : timeline.toString());
    }

    synchronized List<String> names() {
        List<String> names = new ArrayList<>();
        for (Bean b : beans.values()) {
            if (b.registered) {
                names.add(b.name.toString());
            }
        }
        return names;
    }
}
