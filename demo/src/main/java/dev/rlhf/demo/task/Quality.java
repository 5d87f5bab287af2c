package dev.rlhf.demo.task;

/**
 * The kind of a demonstration's response, and the share of the training demonstrations
 * that {@link DemoTask} gives each kind. The shares sum to 1.
 *
 * <p>Rambling is the most common kind, so that SFT's most likely answer (its greedy one) is the
 * helpful answer padded with filler, which the gold judge scores about 0.74: with helpful the
 * most common kind (40 %, as it was), SFT's greedy answer already earned the judge's top score
 * on about half the held-out prompts, where no policy can be preferred to it, only tie.
 */
public enum Quality {

    /** The template's answer: relevant, polite and short. */
    HELPFUL(0.3),
    /** An unrelated sentence: polite and short but says nothing asked for. */
    OFF_TOPIC(0.15),
    /** A brush-off: short but impolite and says nothing asked for. */
    RUDE(0.15),
    /** The helpful answer buried in filler, well over {@link GoldJudge#LENGTH_BUDGET}. */
    RAMBLING(0.4);

    private final double share;

    Quality(double share) {
        this.share = share;
    }

    /** @return the fraction of the training demonstrations of this kind, in (0, 1) */
    public double share() {
        return share;
    }
}
