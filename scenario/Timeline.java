import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The scripted sequence of phases: `phase:duration` entries, durations in ticks.
 *
 * <p>Durations are written `500ms`, `20s`, `2m` (converted to ticks with the tick length,
 * rounded, at least one tick) or `7t` (exactly 7 ticks). The last entry may omit its duration:
 * it then lasts forever. Without `--loop` the last phase also goes on forever once its duration
 * has passed (its step counter `k` keeps growing).
 */
final class Timeline {
    static final class Entry {
        final String phase;
        /** Length in ticks; -1 for "forever". */
        final long ticks;

        Entry(String phase, long ticks) {
            this.phase = phase;
            this.ticks = ticks;
        }

        @Override
        public String toString() {
            return ticks < 0 ? phase : phase + ":" + ticks + "t";
        }
    }

    final List<Entry> entries;

    private Timeline(List<Entry> entries) {
        this.entries = entries;
    }

    /** `normal:20s,buffer-pressure:30s,recovery` */
    static Timeline parse(String spec, long tickMs) {
        List<String> items = new ArrayList<>();
        for (String item : spec.split(",")) {
            items.add(item);
        }
        return of(items, tickMs, "--timeline");
    }

    /**
     * One entry per line, `phase duration` or `phase:duration`; `#` starts a comment; blank
     * lines are ignored.
     */
    static Timeline load(Path file, long tickMs) throws IOException {
        List<String> items = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            int hash = line.indexOf('#');
            if (hash >= 0) {
                line = line.substring(0, hash);
            }
            line = line.trim();
            if (!line.isEmpty()) {
                items.add(line.replaceAll("\\s+", ":"));
            }
        }
        return of(items, tickMs, file.toString());
    }

    private static Timeline of(List<String> items, long tickMs, String source) {
        List<Entry> entries = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            String item = items.get(i).trim();
            if (item.isEmpty()) {
                continue;
            }
            String[] parts = item.split(":", -1);
            String phase = parts[0];
            if (!Model.PHASES.contains(phase)) {
                throw new IllegalArgumentException(source + ": unknown phase '" + phase
                        + "'; known phases: " + String.join(", ", Model.PHASES));
            }
            if (parts.length > 2) {
                throw new IllegalArgumentException(source + ": bad entry '" + item + "' (want phase:duration)");
            }
            long ticks = -1;
            if (parts.length == 2) {
                ticks = ticks(parts[1], tickMs);
            } else if (i != items.size() - 1) {
                throw new IllegalArgumentException(source + ": only the last entry may omit its duration ('" + item + "')");
            }
            entries.add(new Entry(phase, ticks));
        }
        if (entries.isEmpty()) {
            throw new IllegalArgumentException(source + ": empty timeline");
        }
        return new Timeline(entries);
    }

    static long ticks(String duration, long tickMs) {
        String d = duration.trim();
        if (d.endsWith("t")) {
            return positive(Long.parseLong(d.substring(0, d.length() - 1)), duration);
        }
        long ms = millis(d);
        return Math.max(1, Math.round((double) ms / tickMs));
    }

    static long millis(String duration) {
        String d = duration.trim();
        try {
            if (d.endsWith("ms")) {
                return positive(Long.parseLong(d.substring(0, d.length() - 2)), duration);
            }
            if (d.endsWith("s")) {
                return positive(Math.round(Double.parseDouble(d.substring(0, d.length() - 1)) * 1000), duration);
            }
            if (d.endsWith("m")) {
                return positive(Math.round(Double.parseDouble(d.substring(0, d.length() - 1)) * 60_000), duration);
            }
        } catch (NumberFormatException e) {
            // fall through to the error below
        }
        throw new IllegalArgumentException("bad duration '" + duration + "' (want e.g. 500ms, 20s, 2m or 7t for ticks)");
    }

    private static long positive(long value, String text) {
        if (value <= 0) {
            throw new IllegalArgumentException("duration must be positive: '" + text + "'");
        }
        return value;
    }

    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        for (Entry e : entries) {
            parts.add(e.toString());
        }
        return String.join(",", parts);
    }
}
