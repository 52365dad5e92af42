// A JDK-only JMX target for kafka-obs-jmx's integration tests.
//
// Registers MBeans exposing every value shape the client decodes, with known constants that the
// Rust tests assert on, plus Kafka-style names for pattern queries. Prints "READY" once all
// MBeans are registered (the JMX agent opens its port before main runs), then waits to be killed.

import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.rmi.registry.LocateRegistry;
import java.util.HashMap;
import javax.management.remote.JMXConnectorServer;
import javax.management.remote.JMXConnectorServerFactory;
import javax.management.remote.JMXServiceURL;
import javax.management.*;
import javax.management.openmbean.*;

public class JmxTestTarget {

    /** A DynamicMBean serving a fixed map of attributes (plus a counter and a throwing one). */
    public static class MapBean implements DynamicMBean {
        private final Map<String, Object> values;
        private final AtomicLong reads = new AtomicLong();

        MapBean(Map<String, Object> values) {
            this.values = values;
        }

        @Override
        public Object getAttribute(String name) throws AttributeNotFoundException, MBeanException {
            if (name.equals("Reads")) {
                return reads.incrementAndGet();
            }
            if (name.equals("Boom")) {
                throw new MBeanException(new IllegalStateException("boom on purpose"), "Boom getter failed");
            }
            if (!values.containsKey(name)) {
                throw new AttributeNotFoundException("No attribute " + name);
            }
            return values.get(name);
        }

        @Override
        public AttributeList getAttributes(String[] names) {
            AttributeList list = new AttributeList();
            for (String n : names) {
                try {
                    list.add(new Attribute(n, getAttribute(n)));
                } catch (Exception ignored) {
                    // Java's contract: attributes that cannot be read are left out.
                }
            }
            return list;
        }

        @Override
        public void setAttribute(Attribute attribute) throws AttributeNotFoundException {
            throw new AttributeNotFoundException("read-only");
        }

        @Override
        public AttributeList setAttributes(AttributeList attributes) {
            return new AttributeList();
        }

        @Override
        public Object invoke(String action, Object[] params, String[] signature) throws ReflectionException {
            throw new ReflectionException(new NoSuchMethodException(action));
        }

        @Override
        public MBeanInfo getMBeanInfo() {
            MBeanAttributeInfo[] attrs = new MBeanAttributeInfo[values.size() + 2];
            int i = 0;
            for (Map.Entry<String, Object> e : values.entrySet()) {
                Object v = e.getValue();
                String type = v == null ? "java.lang.String" : v.getClass().getName();
                attrs[i++] = new MBeanAttributeInfo(e.getKey(), type, e.getKey(), true, false, false);
            }
            attrs[i++] = new MBeanAttributeInfo("Reads", "java.lang.Long", "reads", true, false, false);
            attrs[i] = new MBeanAttributeInfo("Boom", "java.lang.Long", "throws", true, false, false);
            return new MBeanInfo(MapBean.class.getName(), "test values", attrs, null, null, null);
        }
    }

    static Map<String, Object> values() throws OpenDataException {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("LongValue", 1234567890123L);
        v.put("IntValue", 42);
        v.put("DoubleValue", 3.25d);
        v.put("FloatValue", 1.5f);
        v.put("BoolValue", true);
        v.put("StringValue", "h\u00e9llo w\u00f6rld \u2603 \uD834\uDD1E");
        v.put("NanValue", Double.NaN);
        v.put("NullValue", null);
        v.put("ShortValue", (short) -7);
        v.put("LongArray", new long[] {1L, 2L, 3L});
        v.put("DoubleArray", new double[] {0.5d, -1d});
        v.put("StringArray", new String[] {"a", "b"});
        v.put("IntegerArray", new Integer[] {7, 8});
        v.put("EnumValue", TimeUnit.SECONDS);

        CompositeType innerType = new CompositeType("Inner", "inner",
                new String[] {"depth"}, new String[] {"depth"}, new OpenType<?>[] {SimpleType.INTEGER});
        CompositeData inner = new CompositeDataSupport(innerType, new String[] {"depth"}, new Object[] {9});
        CompositeType compType = new CompositeType("Comp", "composite",
                new String[] {"count", "ratio", "name", "nested"},
                new String[] {"count", "ratio", "name", "nested"},
                new OpenType<?>[] {SimpleType.LONG, SimpleType.DOUBLE, SimpleType.STRING, innerType});
        v.put("CompositeValue", new CompositeDataSupport(compType,
                new String[] {"count", "ratio", "name", "nested"}, new Object[] {5L, 0.5d, "c1", inner}));

        CompositeType rowType = new CompositeType("Row", "row",
                new String[] {"key", "value"}, new String[] {"key", "value"},
                new OpenType<?>[] {SimpleType.STRING, SimpleType.LONG});
        TabularType tableType = new TabularType("Table", "table", rowType, new String[] {"key"});
        TabularDataSupport table = new TabularDataSupport(tableType);
        table.put(new CompositeDataSupport(rowType, new String[] {"key", "value"}, new Object[] {"a", 1L}));
        table.put(new CompositeDataSupport(rowType, new String[] {"key", "value"}, new Object[] {"b", 2L}));
        v.put("TabularValue", table);
        return v;
    }

    static Map<String, Object> kafkaValues(double rate) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("record-send-rate", rate);
        v.put("buffer-available-bytes", 33554432d);
        return v;
    }

    public static void main(String[] args) throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        server.registerMBean(new MapBean(values()), new ObjectName("kafka.obs.test:type=Values"));
        server.registerMBean(new MapBean(kafkaValues(10.5)),
                new ObjectName("kafka.producer:type=producer-metrics,client-id=p1"));
        server.registerMBean(new MapBean(kafkaValues(20.5)),
                new ObjectName("kafka.producer:type=producer-metrics,client-id=p2"));
        server.registerMBean(new MapBean(kafkaValues(1.0)),
                new ObjectName("kafka.producer:type=producer-topic-metrics,client-id=p1,topic=orders"));
        // Many MBeans, so one queryNames reply spans several TCP reads.
        for (int i = 0; i < 300; i++) {
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("Value", (long) i);
            server.registerMBean(new MapBean(v),
                    new ObjectName("kafka.obs.bulk:type=Bulk,name=metric-with-a-longish-name-" + i));
        }
        if (args.length == 3 && args[0].equals("--connector")) {
            int port = Integer.parseInt(args[1]);
            LocateRegistry.createRegistry(port);
            Map<String, Object> env = new HashMap<>();
            env.put("jmx.remote.x.server.connection.timeout", Long.parseLong(args[2]));
            JMXServiceURL url = new JMXServiceURL(
                    "service:jmx:rmi://127.0.0.1:" + port + "/jndi/rmi://127.0.0.1:" + port + "/jmxrmi");
            JMXConnectorServer cs = JMXConnectorServerFactory.newJMXConnectorServer(url, env, server);
            cs.start();
            System.out.println("CONNECTOR " + cs.getAddress());
        }
        System.out.println("INSTANCE " + ManagementFactory.getRuntimeMXBean().getStartTime()
                + "-" + ProcessHandle.current().pid());
        System.out.println("READY");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
