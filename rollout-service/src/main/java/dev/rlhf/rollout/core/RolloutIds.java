package dev.rlhf.rollout.core;

import java.util.UUID;

import dev.rlhf.kafka.support.Uuids;
import dev.rlhf.proto.v1.ModelRef;

/**
 * The deterministic ids and seeds of rollout-service.
 *
 * <p>{@code Rollout.rollout_id} = UUID v5 (RFC 9562 §5.5, SHA-1 name-based) in the namespace
 * {@link #NAMESPACE} of the name
 * <pre>  run_id + "\n" + prompt_id + "\n" + epoch + "\n" + policy name + "\n" + policy version + "\n" + sample_index</pre>
 * so a replay of the same prompt by the same run on the same policy version (after a crash
 * between the acknowledgement of its rollouts and the commit of its offset, or after a
 * rebalance) re-publishes the same ids, and consumers drop the repeats by id. A replay on a
 * newer policy version is a new group with new ids: the samples really are different, and
 * the trainer's staleness rule judges them by {@code policy.version}. {@code epoch} is the
 * pass over a named prompt set (0 for the prompts topic), so a second pass makes new ids.
 *
 * <p>When neither the run nor the prompt fixes {@code SamplingParams.seed},
 * {@link #seed} derives one from (run, prompt, epoch): the replay then also draws the same
 * tokens (best effort: the policy reproduces a seed only on the same version and execution
 * provider), so it re-publishes the same records, not just the same ids.
 */
public final class RolloutIds {

    /** RFC 9562's namespace for URLs (and URNs), {@code 6ba7b811-9dad-11d1-80b4-00c04fd430c8}. */

    /** Namespace of rollout ids: UUID v5 of {@code "urn:rlhf:v1:rollout"} in the URL namespace. */
    public static final UUID NAMESPACE = Uuids.v5(Uuids.NAMESPACE_URL, "urn:rlhf:v1:rollout");

    /** Namespace of derived sampling seeds: UUID v5 of {@code "urn:rlhf:v1:rollout-seed"}. */
    static final UUID SEED_NAMESPACE = Uuids.v5(Uuids.NAMESPACE_URL, "urn:rlhf:v1:rollout-seed");

    private RolloutIds() {
    }

    /** The {@code rollout_id} of sample {@code sampleIndex} of {@code promptId} drawn by {@code policy} (exact version). */
    public static String rolloutId(String runId, String promptId, long epoch, ModelRef policy, int sampleIndex) {
        if (policy.getVersion() <= 0) {
            throw new IllegalArgumentException("a rollout id needs the exact policy version (>= 1), got "
                    + policy.getName() + " v" + policy.getVersion());
        }
        String name = runId + "\n" + promptId + "\n" + epoch + "\n" + policy.getName() + "\n" + policy.getVersion()
                + "\n" + sampleIndex;
        return Uuids.v5(NAMESPACE, name).toString();
    }

    /** The sampling seed of a prompt whose run and overrides set none: 63 bits of UUID v5 of (run, prompt, epoch). */
    public static long seed(String runId, String promptId, long epoch) {
        return Uuids.v5(SEED_NAMESPACE, runId + "\n" + promptId + "\n" + epoch).getMostSignificantBits() & Long.MAX_VALUE;
    }
}
