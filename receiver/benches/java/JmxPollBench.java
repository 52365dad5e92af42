// The JDK's own JMX client doing what one poll of the `jmx` receiver does, for the poll-latency
// benchmark (receiver/benches/jmx_poll.rs): read java.lang:type=Runtime StartTime, queryNames
// for every bean pattern, then one getAttributes per matched MBean with the attributes its
// rules need. One connection, warmed up, then timed.
//
// java -cp CLASSES JmxPollBench <service-url> <spec-file> <warmup> <iterations>
// spec file: one "<pattern>\t<attr>,<attr>,..." per line.
// Prints: "POLL mbeans=N values=V", "LATENCY_US p50 p90 p99 mean", "RSS_KB n".

import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.*;
import javax.management.*;
import javax.management.remote.*;

public class JmxPollBench {
    public static void main(String[] args) throws Exception {
        String url = args[0];
        List<String[]> spec = new ArrayList<>();
        for (String line : Files.readAllLines(Paths.get(args[1]))) {
            if (line.isBlank()) continue;
            String[] parts = line.split("\t", 2);
            spec.add(parts);
        }
        int warmup = Integer.parseInt(args[2]);
        int iterations = Integer.parseInt(args[3]);
        List<ObjectName> patterns = new ArrayList<>();
        List<String[]> attrs = new ArrayList<>();
        for (String[] s : spec) {
            patterns.add(new ObjectName(s[0]));
            attrs.add(s[1].split(","));
        }
        ObjectName runtime = new ObjectName("java.lang:type=Runtime");
        try (JMXConnector c = JMXConnectorFactory.connect(new JMXServiceURL(url))) {
            MBeanServerConnection conn = c.getMBeanServerConnection();
            int[] counts = new int[2];
            for (int i = 0; i < warmup; i++) poll(conn, runtime, patterns, attrs, counts);
            long[] us = new long[iterations];
            for (int i = 0; i < iterations; i++) {
                long t0 = System.nanoTime();
                poll(conn, runtime, patterns, attrs, counts);
                us[i] = (System.nanoTime() - t0) / 1000;
            }
            Arrays.sort(us);
            long sum = 0;
            for (long u : us) sum += u;
            System.out.println("POLL mbeans=" + counts[0] + " values=" + counts[1]);
            System.out.println("LATENCY_US " + us[iterations / 2] + " " + us[iterations * 9 / 10] + " "
                    + us[Math.min(iterations - 1, iterations * 99 / 100)] + " " + (sum / iterations));
        }
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                System.out.println("RSS_KB " + line.replaceAll("[^0-9]", ""));
            }
        }
    }

    static void poll(MBeanServerConnection conn, ObjectName runtime, List<ObjectName> patterns,
                     List<String[]> attrs, int[] counts) throws Exception {
        conn.getAttributes(runtime, new String[] {"StartTime"});
        Map<ObjectName, Set<String>> targets = new LinkedHashMap<>();
        for (int i = 0; i < patterns.size(); i++) {
            ObjectName p = patterns.get(i);
            Set<ObjectName> names = p.isPattern() ? conn.queryNames(p, null) : Set.of(p);
            for (ObjectName n : names) {
                targets.computeIfAbsent(n, k -> new TreeSet<>()).addAll(Arrays.asList(attrs.get(i)));
            }
        }
        int mbeans = 0, values = 0;
        for (Map.Entry<ObjectName, Set<String>> e : targets.entrySet()) {
            try {
                AttributeList list = conn.getAttributes(e.getKey(), e.getValue().toArray(new String[0]));
                mbeans++;
                values += list.size();
            } catch (InstanceNotFoundException ignored) {
                // a plain name not registered in this JVM
            }
        }
        counts[0] = mbeans;
        counts[1] = values;
    }
}
