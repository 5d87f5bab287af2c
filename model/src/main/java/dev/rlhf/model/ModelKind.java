package dev.rlhf.model;

/**
 * The role a stored model plays in RLHF (Ouyang et al. 2022, "Training language models to
 * follow instructions with human feedback"); recorded in each version's {@code manifest.json}.
 */
public enum ModelKind {
    /** π_θ, the policy being trained; generates the rollouts. */
    POLICY,
    /** π_ref, the frozen reference policy of the KL penalty. */
    REFERENCE,
    /** r_φ, the reward model trained on human preferences (Bradley–Terry). */
    REWARD,
    /** V_ψ, the value model (critic) of PPO's advantage estimate. */
    VALUE
}
