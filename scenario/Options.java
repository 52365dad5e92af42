import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Command-line options of the scenario JVM (see README.md). */
final class Options {
    long tickMs = 1000;
    Timeline timeline;
    String service = "order-service";
    List<String> producers = new ArrayList<>(Arrays.asList("order-producer"));
    List<String> consumers = new ArrayList<>(Arrays.asList("inventory-consumer"));
    List<String> topics = new ArrayList<>(Arrays.asList("orders", "payments"));
    int partitions = 3;
    String role = "client";
    boolean paused;
    boolean loop;
    String businessBean = "com.example.orders:type=OrderMetrics";
    double bufferTotal = 33_554_432;
    double gcBudget = 0.3;
    int gcLiveObjects = 200_000;
    long dumpTicks;

    static final String USAGE = String.join("\n",
            "usage: java ScenarioMain [options]",
            "  --timeline SPEC         phase:duration,... (durations 500ms, 20s, 2m or 7t ticks; last may omit it)",
            "  --timeline-file FILE    one 'phase duration' per line, # comments",
            "  --tick DURATION         how often values advance (default 1s)",
            "  --paused                start paused (advance with the 'tick' command)",
            "  --loop                  repeat the timeline instead of staying in its last phase",
            "  --role client|broker|both   which MBeans to register (default client)",
            "  --service NAME          service name (default order-service)",
            "  --producer IDS          producer client-ids, comma-separated (default order-producer)",
            "  --consumer IDS          consumer client-ids, comma-separated (default inventory-consumer)",
            "  --topics T1,T2          topics (default orders,payments)",
            "  --partitions N          partitions per topic (default 3)",
            "  --business-bean NAME    business MBean (default com.example.orders:type=OrderMetrics)",
            "  --buffer-total BYTES    producer buffer.memory (default 33554432)",
            "  --gc-budget FRACTION    share of each gc-pressure tick spent in System.gc() (default 0.3)",
            "  --dump N                play N ticks at once and print a table of the main values (no JMX needed)",
            "phases: " + String.join(", ", Model.PHASES));

    static Options parse(String[] args) throws Exception {
        Options o = new Options();
        String timelineSpec = null;
        String timelineFile = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--paused": o.paused = true; continue;
                case "--loop": o.loop = true; continue;
                case "--help": case "-h":
                    System.out.println(USAGE);
                    System.exit(0);
                    break;
                default:
                    break;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("missing value for " + a + "\n" + USAGE);
            }
            String v = args[++i];
            switch (a) {
                case "--timeline": timelineSpec = v; break;
                case "--timeline-file": timelineFile = v; break;
                case "--tick": o.tickMs = Timeline.millis(v); break;
                case "--service": o.service = v; break;
                case "--producer": o.producers = list(v); break;
                case "--consumer": o.consumers = list(v); break;
                case "--topics": o.topics = list(v); break;
                case "--partitions": o.partitions = Integer.parseInt(v); break;
                case "--role":
                    if (!Arrays.asList("client", "broker", "both").contains(v)) {
                        throw new IllegalArgumentException("--role must be client, broker or both, not '" + v + "'");
                    }
                    o.role = v;
                    break;
                case "--business-bean": o.businessBean = v; break;
                case "--buffer-total": o.bufferTotal = Double.parseDouble(v); break;
                case "--gc-budget": o.gcBudget = Double.parseDouble(v); break;
                case "--gc-live-objects": o.gcLiveObjects = Integer.parseInt(v); break;
                case "--dump": o.dumpTicks = Long.parseLong(v); break;
                default:
                    throw new IllegalArgumentException("unknown option " + a + "\n" + USAGE);
            }
        }
        if (o.topics.isEmpty()) {
            throw new IllegalArgumentException("--topics needs at least one topic");
        }
        if (o.partitions < 1) {
            throw new IllegalArgumentException("--partitions must be at least 1");
        }
        if (timelineSpec != null && timelineFile != null) {
            throw new IllegalArgumentException("give --timeline or --timeline-file, not both");
        }
        if (timelineFile != null) {
            o.timeline = Timeline.load(Paths.get(timelineFile), o.tickMs);
        } else {
            o.timeline = Timeline.parse(timelineSpec == null ? "normal" : timelineSpec, o.tickMs);
        }
        return o;
    }

    private static List<String> list(String v) {
        List<String> items = new ArrayList<>();
        for (String s : v.split(",")) {
            if (!s.trim().isEmpty()) {
                items.add(s.trim());
            }
        }
        return items;
    }
}
