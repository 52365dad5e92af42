import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.AttributeNotFoundException;
import javax.management.DynamicMBean;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanInfo;
import javax.management.MBeanNotificationInfo;
import javax.management.MBeanOperationInfo;
import javax.management.ObjectName;
import javax.management.ReflectionException;

/**
 * A read-only DynamicMBean whose attributes the scenario model writes on every tick.
 *
 * <p>Dynamic because Kafka's attribute names contain hyphens (`buffer-available-bytes`), which a
 * standard MBean interface cannot express. Each attribute has a declared JMX type name (what
 * Kafka's own reporters declare: `double` for client metrics, `long`/`double`/`java.lang.Object`
 * for Yammer metrics) and a boxed value (Double, Long or Integer). A value set with the `set`
 * command is pinned: ticks no longer change it until `unset`.
 */
final class Bean implements DynamicMBean {
    static final class Attr {
        final String type;
        Object value;
        boolean pinned;

        Attr(String type, Object value) {
            this.type = type;
            this.value = value;
        }
    }

    final ObjectName name;
    /** True for MBeans of the producer client (unregistered while the client is closed). */
    final boolean producer;
    /** Registered with the platform MBeanServer right now. */
    boolean registered;
    /** Unregistered by the `unregister` command: ticks do not bring it back, `register` does. */
    boolean hidden;

    private final String description;
    private final Map<String, Attr> attrs = new LinkedHashMap<>();

    Bean(ObjectName name, String description, boolean producer) {
        this.name = name;
        this.description = description;
        this.producer = producer;
    }

    /** Declares an attribute with its JMX type name and initial value. */
    synchronized Bean define(String attr, String type, Object initial) {
        attrs.put(attr, new Attr(type, initial));
        return this;
    }

    synchronized boolean has(String attr) {
        return attrs.containsKey(attr);
    }

    /** Sets the value unless it is pinned; ignores attributes never defined. */
    synchronized void update(String attr, Object value) {
        Attr a = attrs.get(attr);
        if (a != null && !a.pinned) {
            a.value = value;
        }
    }

    synchronized Object value(String attr) {
        Attr a = attrs.get(attr);
        return a == null ? null : a.value;
    }

    /**
     * Pins `attr` to `text`, parsed as the attribute's current value class; a new attribute is
     * a Double unless `text` has a type prefix (`long:`, `int:`, `double:`, `string:`, `bool:`).
     */
    synchronized Object pin(String attr, String text) {
        Attr a = attrs.get(attr);
        Object value;
        int colon = text.indexOf(':');
        if (colon > 0 && text.substring(0, colon).matches("long|int|double|string|bool")) {
            value = parseTyped(text.substring(0, colon), text.substring(colon + 1));
        } else if (a != null) {
            value = parseLike(a.value, text);
        } else {
            value = Double.valueOf(text);
        }
        if (a == null) {
            a = new Attr(jmxType(value), value);
            attrs.put(attr, a);
        }
        a.value = value;
        a.pinned = true;
        return value;
    }

    synchronized boolean unpin(String attr) {
        Attr a = attrs.get(attr);
        if (a == null) {
            return false;
        }
        a.pinned = false;
        return true;
    }

    synchronized void unpinAll() {
        for (Attr a : attrs.values()) {
            a.pinned = false;
        }
    }

    private static Object parseTyped(String type, String text) {
        switch (type) {
            case "long": return Long.valueOf(text);
            case "int": return Integer.valueOf(text);
            case "string": return text;
            case "bool": return Boolean.valueOf(text);
            default: return Double.valueOf(text);
        }
    }

    private static Object parseLike(Object current, String text) {
        if (current instanceof Long) {
            return Long.valueOf(text);
        }
        if (current instanceof Integer) {
            return Integer.valueOf(text);
        }
        if (current instanceof String) {
            return text;
        }
        if (current instanceof Boolean) {
            return Boolean.valueOf(text);
        }
        return Double.valueOf(text);
    }

    private static String jmxType(Object value) {
        if (value instanceof Long) return "long";
        if (value instanceof Integer) return "int";
        if (value instanceof Boolean) return "boolean";
        if (value instanceof String) return "java.lang.String";
        return "double";
    }

    @Override
    public synchronized Object getAttribute(String attribute) throws AttributeNotFoundException {
        Attr a = attrs.get(attribute);
        if (a == null) {
            throw new AttributeNotFoundException("No such attribute: " + attribute);
        }
        return a.value;
    }

    @Override
    public synchronized AttributeList getAttributes(String[] attributes) {
        AttributeList list = new AttributeList();
        for (String name : attributes) {
            Attr a = attrs.get(name);
            if (a != null) {
                list.add(new Attribute(name, a.value));
            }
        }
        return list;
    }

    @Override
    public void setAttribute(Attribute attribute) throws AttributeNotFoundException {
        throw new AttributeNotFoundException("Attribute " + attribute.getName() + " is read-only");
    }

    @Override
    public AttributeList setAttributes(AttributeList attributes) {
        return new AttributeList();
    }

    @Override
    public Object invoke(String actionName, Object[] params, String[] signature) throws ReflectionException {
        throw new ReflectionException(new NoSuchMethodException(actionName), "No operations on " + name);
    }

    @Override
    public synchronized MBeanInfo getMBeanInfo() {
        List<MBeanAttributeInfo> infos = new ArrayList<>();
        for (Map.Entry<String, Attr> e : attrs.entrySet()) {
            infos.add(new MBeanAttributeInfo(e.getKey(), e.getValue().type, e.getKey(), true, false, false));
        }
        return new MBeanInfo(getClass().getName(), description,
                infos.toArray(new MBeanAttributeInfo[0]), null, new MBeanOperationInfo[0],
                new MBeanNotificationInfo[0]);
    }
}
