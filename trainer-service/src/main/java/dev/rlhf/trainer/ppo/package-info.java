/**
 * The algorithm of PPO for RLHF as plain code (no Kafka, gRPC or Quarkus): Ziegler et al.
 * 2019, "Fine-Tuning Language Models from Human Preferences"; Ouyang et al. 2022
 * (InstructGPT); Schulman et al. 2017 (PPO); Schulman et al. 2016 (GAE).
 *
 * <p>One iteration over a batch of B rollouts, responses right-padded to T tokens:
 * <ol>
 *   <li>{@link dev.rlhf.trainer.ppo.KlEstimator}: per-token KL of the policy to the reference
 *       from the logprobs of the sampled tokens, [B, T];</li>
 *   <li>{@link dev.rlhf.trainer.ppo.TokenRewards}: r_t = −β·KL_t plus the sequence score at the
 *       last response token, [B, T];</li>
 *   <li>{@link dev.rlhf.trainer.ppo.GeneralizedAdvantageEstimator}: advantages and returns
 *       from the rewards and the critic's values, [B, T];</li>
 *   <li>{@link dev.rlhf.trainer.ppo.MaskedStatistics#whiten}: advantages to zero mean and unit
 *       variance over the batch's response tokens;</li>
 *   <li>per minibatch: {@link dev.rlhf.trainer.ppo.ClippedPolicyLoss},
 *       {@link dev.rlhf.trainer.ppo.ClippedValueLoss} and
 *       {@link dev.rlhf.trainer.ppo.TokenEntropy} on DJL arrays, so gradients flow;</li>
 *   <li>{@link dev.rlhf.trainer.ppo.KlController#update}: β for the next iteration from the
 *       batch's mean KL per sequence.</li>
 * </ol>
 * Plain-Java steps take {@code double[B][T]} arrays and a {@code boolean[B][T]} mask (true =
 * a response token); {@link dev.rlhf.trainer.ppo.TokenArrays} converts to and from DJL.
 */
package dev.rlhf.trainer.ppo;
