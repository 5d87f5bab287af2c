package dev.rlhf.model;

/**
 * Which examples a training job holds out for validation: by a key (the prompt), so every
 * example of a prompt falls on the same side, seeded, and stable across runs and JVMs
 * (String.hashCode). Shared by the jobs that split and by whoever needs to know their split
 * (e.g. the demo, which measures the labelers' agreement on the reward model's held-out pairs).
 */
public final class ValidationSplit {

    private ValidationSplit() {
    }

    /**
     * Whether {@code key} is held out.
     *
     * @param fraction share of keys held out, in [0, 1]
     */
    public static boolean heldOut(String key, long seed, double fraction) {
        return Math.floorMod((key.hashCode() ^ Long.hashCode(seed)) * 0x9E3779B9, 1000) < fraction * 1000;
    }
}
