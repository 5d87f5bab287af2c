package dev.rlhf.demo.task;

/**
 * The kind of a demonstration's response, and the share of the training demonstrations
 * that {@link DemoTask} gives each kind. The shares sum to 1.
 */
public enum Quality {

    /** The template's answer: relevant, polite and short. */
    HELPFUL(0.4),
    /** An unrelated sentence: polite and short but says nothing asked for. */
    OFF_TOPIC(0.2),
    /** A brush-off: short but impolite and says nothing asked for. */
    RUDE(0.2),
    /** The helpful answer buried in filler, well over {@link GoldJudge#LENGTH_BUDGET}. */
    RAMBLING(0.2);

    private final double share;

    Quality(double share) {
        this.share = share;
    }

    /** @return the fraction of the training demonstrations of this kind, in (0, 1) */
    public double share() {
        return share;
    }
}
