import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * A deterministic stand-in for a Yammer meter: marks once per tick, rates from sliding windows.
 *
 * <p>`OneMinuteRate` is the sum of the marks of the last 60 s worth of ticks divided by 60 (so
 * it ramps up over the first minute, like Yammer's EWMA starting from zero, but exactly
 * predictable); five and fifteen minutes likewise; `MeanRate` is Count over elapsed seconds.
 */
final class Meter {
    private final double tickSeconds;
    private final ArrayDeque<Long> marks = new ArrayDeque<>();
    private final int maxTicks;
    long count;
    long ticks;

    Meter(double tickSeconds) {
        this.tickSeconds = tickSeconds;
        this.maxTicks = window(900);
    }

    private int window(double seconds) {
        return (int) Math.max(1, Math.round(seconds / tickSeconds));
    }

    /** Records `n` events for this tick (call exactly once per tick, with 0 when none). */
    void mark(long n) {
        count += n;
        ticks++;
        marks.addFirst(n);
        while (marks.size() > maxTicks) {
            marks.removeLast();
        }
    }

    /** Events in the last `seconds` worth of ticks, per second of that window. */
    double rate(double seconds) {
        int n = window(seconds);
        long sum = 0;
        Iterator<Long> it = marks.iterator();
        for (int i = 0; i < n && it.hasNext(); i++) {
            sum += it.next();
        }
        return Model.round6(sum / seconds);
    }

    double meanRate() {
        return ticks == 0 ? 0.0 : Model.round6(count / (ticks * tickSeconds));
    }
}
