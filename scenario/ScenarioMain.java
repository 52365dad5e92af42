import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The scenario JVM: registers MBeans with Kafka client, broker and business ObjectNames and plays
 * a scripted timeline of phases, so tests and the demo can make exact trajectories happen.
 *
 * <p>Start it with a JMX agent (`-Dcom.sun.management.jmxremote.port=...`). It prints one line
 * per event on stdout (`READY`, `PHASE`, `TICK`, `ACK`, `ERR`, ...) and reads commands on stdin
 * (`pause`, `resume`, `tick`, `phase`, `set`, `unset`, `get`, `unregister`, `register`, `gc`,
 * `status`, `list`, `quit`); see README.md. End of stdin is not a quit: the demo runs it with
 * no input at all.
 */
public final class ScenarioMain {
    private static final Object OUT = new Object();
    /** Set by `--dump`: only the table is printed. */
    private static volatile boolean quiet;

    /** Prints one event line and flushes it (tests synchronise on these lines). */
    static void emit(String line) {
        if (quiet) {
            return;
        }
        synchronized (OUT) {
            System.out.println(line);
            System.out.flush();
        }
    }

    public static void main(String[] args) throws Exception {
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("scenario: " + e.getMessage());
            System.exit(2);
            return;
        }
        Model model = new Model(options);
        if (options.dumpTicks > 0) {
            dump(model, options.dumpTicks);
            return;
        }
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "scenario-ticker");
            t.setDaemon(true);
            return t;
        });
        ticker.scheduleAtFixedRate(() -> {
            try {
                synchronized (model) {
                    if (!model.paused) {
                        model.tick();
                    }
                }
            } catch (Throwable e) {
                emit("ERR tick : " + e);
            }
        }, options.tickMs, options.tickMs, TimeUnit.MILLISECONDS);

        emit("READY port=" + System.getProperty("com.sun.management.jmxremote.port", "-")
                + " pid=" + ProcessHandle.current().pid()
                + " service=" + options.service
                + " role=" + options.role
                + " tick_ms=" + options.tickMs
                + " paused=" + options.paused
                + " timeline=" + options.timeline);

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String command = line.trim();
            if (command.isEmpty() || command.startsWith("#")) {
                continue;
            }
            try {
                if (handle(model, command)) {
                    emit("ACK " + command);
                    emit("BYE");
                    System.exit(0);
                }
                emit("ACK " + command);
            } catch (Exception e) {
                String message = e.getMessage() == null ? e.toString() : e.getMessage();
                emit("ERR " + command + " : " + message.replace('\n', ' '));
            }
        }
        // stdin closed: keep playing the timeline until killed.
        Thread.currentThread().join();
    }

    /** Applies one command; returns true for `quit`. Throws with a message on bad input. */
    private static boolean handle(Model model, String command) throws Exception {
        String[] w = command.split("\\s+");
        switch (w[0]) {
            case "quit":
            case "exit":
                return true;
            case "pause":
                arity(w, 1, "pause");
                synchronized (model) {
                    model.paused = true;
                }
                return false;
            case "resume":
                arity(w, 1, "resume");
                synchronized (model) {
                    model.paused = false;
                }
                return false;
            case "tick": {
                int n = w.length > 1 ? Integer.parseInt(w[1]) : 1;
                if (w.length > 2 || n < 1) {
                    throw new IllegalArgumentException("usage: tick [N]");
                }
                for (int i = 0; i < n; i++) {
                    model.tick();
                }
                return false;
            }
            case "phase":
                arity(w, 2, "phase <name>");
                model.setPhase(w[1]);
                return false;
            case "set": {
                arity(w, 4, "set <ObjectName> <attribute> <value>");
                Object v = model.pin(w[1], w[2], w[3]);
                emit("VALUE " + w[1] + " " + w[2] + " " + v);
                return false;
            }
            case "unset":
                if (w.length == 2 && w[1].equals("all")) {
                    model.unpinAll();
                    return false;
                }
                arity(w, 3, "unset <ObjectName> <attribute> | unset all");
                model.unpin(w[1], w[2]);
                return false;
            case "get":
                arity(w, 3, "get <ObjectName> <attribute>");
                emit("VALUE " + w[1] + " " + w[2] + " " + model.value(w[1], w[2]));
                return false;
            case "unregister": {
                arity(w, 2, "unregister <ObjectName pattern>");
                int n = model.unregister(w[1]);
                if (n == 0) {
                    throw new IllegalArgumentException("no scenario MBean matches " + w[1]);
                }
                return false;
            }
            case "register": {
                arity(w, 2, "register <ObjectName pattern>");
                int n = model.register(w[1]);
                if (n == 0) {
                    throw new IllegalArgumentException("no scenario MBean matches " + w[1]);
                }
                return false;
            }
            case "gc": {
                int n = w.length > 1 ? Integer.parseInt(w[1]) : 1;
                long[] delta = model.gc(n);
                emit("GC collections=+" + delta[0] + " time_ms=+" + delta[1]);
                return false;
            }
            case "status":
                arity(w, 1, "status");
                emit("STATUS " + model.status());
                return false;
            case "list":
                arity(w, 1, "list");
                for (String name : model.names()) {
                    emit("MBEAN " + name);
                }
                return false;
            default:
                throw new IllegalArgumentException("unknown command '" + w[0]
                        + "' (pause, resume, tick [N], phase <name>, set <ObjectName> <attr> <value>,"
                        + " unset <ObjectName> <attr> | unset all, get <ObjectName> <attr>,"
                        + " unregister <pattern>, register <pattern>, gc [N], status, list, quit)");
        }
    }

    /** Columns of `--dump`: label, ObjectName (P = producer id, C = consumer id, T = first topic), attribute. */
    private static final String[][] DUMP = {
        {"avail", "kafka.producer:type=producer-metrics,client-id=P", "buffer-available-bytes"},
        {"exhausted", "kafka.producer:type=producer-metrics,client-id=P", "buffer-exhausted-total"},
        {"batch", "kafka.producer:type=producer-metrics,client-id=P", "batch-size-avg"},
        {"send", "kafka.producer:type=producer-metrics,client-id=P", "record-send-rate"},
        {"latency", "kafka.producer:type=producer-metrics,client-id=P", "request-latency-avg"},
        {"err", "kafka.producer:type=producer-metrics,client-id=P", "record-error-rate"},
        {"retry", "kafka.producer:type=producer-metrics,client-id=P", "record-retry-rate"},
        {"lagmax", "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=C", "records-lag-max"},
        {"lag.p0", "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=C,topic=T,partition=0", "records-lag"},
        {"consumed", "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=C", "records-consumed-rate"},
        {"fetchlat", "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=C", "fetch-latency-avg"},
        {"assigned", "kafka.consumer:type=consumer-coordinator-metrics,client-id=C", "assigned-partitions"},
        {"commitlat", "kafka.consumer:type=consumer-coordinator-metrics,client-id=C", "commit-latency-avg"},
        {"rebal", "kafka.consumer:type=consumer-coordinator-metrics,client-id=C", "rebalance-total"},
        {"failrebal", "kafka.consumer:type=consumer-coordinator-metrics,client-id=C", "failed-rebalance-total"},
        {"rebal.ago", "kafka.consumer:type=consumer-coordinator-metrics,client-id=C", "last-rebalance-seconds-ago"},
        {"rebal.lat", "kafka.consumer:type=consumer-coordinator-metrics,client-id=C", "rebalance-latency-avg"},
        {"poll.ago", "kafka.consumer:type=consumer-metrics,client-id=C", "last-poll-seconds-ago"},
        {"orders", "BUSINESS", "orders-processed-count"},
        {"valfail", "BUSINESS", "order-validation-failures"},
        {"invlat", "BUSINESS", "inventory-check-latency"},
        {"paycalls", "BUSINESS", "payment-gateway-calls"},
        {"payfail", "BUSINESS", "payment-gateway-failures"},
        {"urp", "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions", "Value"},
        {"offline", "kafka.controller:type=KafkaController,name=OfflinePartitionsCount", "Value"},
        {"ctrl", "kafka.controller:type=KafkaController,name=ActiveControllerCount", "Value"},
        {"shrinks", "kafka.server:type=ReplicaManager,name=IsrShrinksPerSec", "Count"},
        {"expands", "kafka.server:type=ReplicaManager,name=IsrExpandsPerSec", "Count"},
        {"produce.p99", "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce", "99thPercentile"},
        {"netidle", "kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent", "Value"},
        {"handleridle", "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent", "OneMinuteRate"},
        {"unclean", "kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec", "Count"},
        {"elections", "kafka.controller:type=ControllerStats,name=LeaderElectionRateAndTimeMs", "Count"},
    };

    /**
     * Plays `ticks` ticks at once without waiting and prints a tab-separated table of the main
     * attributes after each (tick 0 = before the first sample); `-` where an MBean is absent.
     */
    private static void dump(Model model, long ticks) {
        Options o = model.o;
        StringBuilder header = new StringBuilder("tick\tphase\tk");
        for (String[] c : DUMP) {
            header.append('\t').append(c[0]);
        }
        System.out.println(header);
        quiet = true;
        for (long t = 0; t <= ticks; t++) {
            if (t > 0) {
                model.tick();
            }
            StringBuilder row = new StringBuilder();
            row.append(t).append('\t').append(t == 0 ? "-" : model.phase()).append('\t')
                    .append(t == 0 ? "-" : String.valueOf(model.k() - 1));
            for (String[] c : DUMP) {
                String name = c[1].equals("BUSINESS") ? o.businessBean
                        : c[1].replace("client-id=P", "client-id=" + (o.producers.isEmpty() ? "" : o.producers.get(0)))
                                .replace("client-id=C", "client-id=" + (o.consumers.isEmpty() ? "" : o.consumers.get(0)))
                                .replace("topic=T", "topic=" + o.topics.get(0));
                String cell;
                try {
                    cell = model.registered(name) ? format(model.value(name, c[2])) : "-";
                } catch (RuntimeException e) {
                    cell = "-";
                }
                row.append('\t').append(cell);
            }
            System.out.println(row);
        }
        System.out.flush();
    }

    /** Whole numbers without a fraction, others as Java prints them. */
    static String format(Object v) {
        if (v instanceof Double) {
            double d = (Double) v;
            if (!Double.isNaN(d) && !Double.isInfinite(d) && d == Math.rint(d) && Math.abs(d) < 1e15) {
                return String.valueOf((long) d);
            }
        }
        return String.valueOf(v);
    }

    private static void arity(String[] w, int n, String usage) {
        if (w.length != n) {
            throw new IllegalArgumentException("usage: " + usage);
        }
    }
}
