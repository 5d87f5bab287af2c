package dev.rlhf.reward;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.jboss.logging.Logger;

import dev.rlhf.proto.v1.PairScore;
import dev.rlhf.proto.v1.RewardComponent;
import dev.rlhf.proto.v1.RewardServiceGrpc;
import dev.rlhf.proto.v1.ScorePair;
import dev.rlhf.proto.v1.ScoreRequest;
import dev.rlhf.proto.v1.ScoreResponse;
import dev.rlhf.reward.Components.Component;
import dev.rlhf.reward.Components.Learned;
import dev.rlhf.reward.Components.RuleBased;
import dev.rlhf.reward.core.Combination;
import dev.rlhf.reward.core.Ensemble;
import dev.rlhf.reward.core.RunningNormalizer;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;

/**
 * RewardService: scores (prompt, response) pairs with the configured components and combines
 * them, as reward.proto specifies. A call leases every reward model it needs before scoring,
 * so all its pairs are scored by the same versions (a swap takes effect between calls).
 *
 * <p>Steps of a call: 1. check the request (INVALID_ARGUMENT naming the field); 2. pick the
 * components; 3. admit its pairs (RESOURCE_EXHAUSTED with {@code retry-after-ms} beyond
 * {@code rlhf.reward.max-inflight-pairs}); 4. lease the reward models (UNAVAILABLE naming the
 * component whose model is not loaded); 5. per model, format and score every pair, update
 * its running normaliser; 6. per pair, each component's value, the total and its uncertainty.
 */
@GrpcService
public class RewardGrpcService extends RewardServiceGrpc.RewardServiceImplBase {

    private static final Logger LOG = Logger.getLogger(RewardGrpcService.class);

    static final Metadata.Key<String> RETRY_AFTER_MS = Metadata.Key.of("retry-after-ms", Metadata.ASCII_STRING_MARSHALLER);

    /** ScorePair.prompt and .response: at most 64 KiB of UTF-8 each. */
    static final int MAX_TEXT_BYTES = 64 * 1024;

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

    private final ModelRegistry registry;
    private final Components components;
    private final ScoringLimits limits;
    private final MeterRegistry meters;
    private final Semaphore inflight;
    private final Timer latency;
    /** Per component name: its values, after normalisation, before weighting. */
    private final Map<String, DistributionSummary> componentValues = new HashMap<>();
    private final DistributionSummary totals;

    RewardGrpcService(ModelRegistry registry, Components components, ScoringLimits limits, MeterRegistry meters) {
        this.registry = registry;
        this.components = components;
        this.limits = limits;
        this.meters = meters;
        this.inflight = new Semaphore(limits.maxInflightPairs());
        this.latency = Timer.builder("rlhf.reward.score.latency").description("Score calls answered, from admission to response")
                .publishPercentileHistogram().register(meters);
        for (Component c : components.all()) {
            componentValues.put(c.name(), DistributionSummary.builder("rlhf.reward.component.value")
                    .tag("component", c.name()).description("Component value per pair, after normalisation, before"
                            + " weighting").register(meters));
        }
        this.totals = DistributionSummary.builder("rlhf.reward.total").description("Combined reward per pair")
                .register(meters);
    }

    @Override
    @Blocking
    public void score(ScoreRequest request, StreamObserver<ScoreResponse> out) {
        try {
            // 1. the request, 2. the components
            check(request);
            List<Component> selected;
            try {
                selected = components.select(request.getComponentsList());
            } catch (IllegalArgumentException e) {
                throw invalid(e.getMessage());
            }
            // 3. admission
            int pairs = request.getPairsCount();
            if (!inflight.tryAcquire(pairs)) {
                throw overloaded(pairs);
            }
            try {
                long start = System.nanoTime();
                ScoreResponse response = scoreLeased(request, selected);
                latency.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
                out.onNext(response);
                out.onCompleted();
            } finally {
                inflight.release(pairs);
            }
        } catch (StatusRuntimeException e) {
            out.onError(e);
        } catch (Exception e) {
            LOG.errorf(e, "Score failed (request_id %s)", request.getRequestId());
            out.onError(Status.INTERNAL.withDescription("scoring failed: " + e).asRuntimeException());
        }
    }

    /** 4. leases every model the learned components need, scores, and releases them. */
    private ScoreResponse scoreLeased(ScoreRequest request, List<Component> selected) throws Exception {
        Map<String, ServedRewardModel> leased = new LinkedHashMap<>();
        try {
            for (Component c : selected) {
                if (c instanceof Learned l && !leased.containsKey(l.model())) {
                    leased.put(l.model(), registry.lease(l.model()).orElseThrow(() -> Status.UNAVAILABLE
                            .withDescription("component " + l.name() + " needs reward model " + l.model()
                                    + ", which is not loaded yet (no valid version in the model store or announced);"
                                    + " retry with backoff")
                            .asRuntimeException()));
                }
            }
            return score(request, selected, leased);
        } finally {
            leased.values().forEach(ServedRewardModel::release);
        }
    }

    /** One model's input for every pair of a call: [B] sequences, and which were truncated. */
    private record Formatted(ServedRewardModel model, List<int[]> sequences, boolean[] truncated) {
    }

    /** One model's scores of every pair of a call: [B][K] member scores and the normaliser's statistics. */
    private record ModelScores(ServedRewardModel model, float[][] members, RunningNormalizer.Snapshot stats,
            boolean[] truncated) {
    }

    private ScoreResponse score(ScoreRequest request, List<Component> selected, Map<String, ServedRewardModel> leased)
            throws Exception {
        // 5. per model: format every pair (all checks before any model runs), score, update the normaliser
        List<Formatted> formatted = new ArrayList<>();
        for (ServedRewardModel m : leased.values()) {
            formatted.add(format(m, request));
        }
        Map<String, ModelScores> byModel = new HashMap<>();
        for (Formatted f : formatted) {
            byModel.put(f.model().name(), score(f));
        }
        // 6. per pair: component values, total, uncertainty
        ScoreResponse.Builder response = ScoreResponse.newBuilder().setConfigVersion(components.version());
        leased.values().forEach(m -> response.addModels(m.ref()));
        for (int i = 0; i < request.getPairsCount(); i++) {
            response.addScores(pairScore(i, request.getPairs(i), selected, byModel));
        }
        meters.counter("rlhf.reward.pairs").increment(request.getPairsCount());
        return response.build();
    }

    /** The ids {@code m} scores for each pair; INVALID_ARGUMENT naming the first pair it cannot take. */
    private static Formatted format(ServedRewardModel m, ScoreRequest request) {
        boolean sameTokenizer = request.getTokenizerSha256().equals(m.tokenizerSha256());
        List<int[]> sequences = new ArrayList<>(request.getPairsCount());
        boolean[] truncated = new boolean[request.getPairsCount()];
        for (int i = 0; i < request.getPairsCount(); i++) {
            ScorePair p = request.getPairs(i);
            PairEncoder.Encoded e;
            try {
                e = m.encoder().encode(i, p, sameTokenizer && p.getPromptTokenIdsCount() > 0);
            } catch (IllegalArgumentException ex) {
                throw invalid(ex.getMessage());
            }
            sequences.add(e.ids());
            truncated[i] = e.truncated();
        }
        return new Formatted(m, sequences, truncated);
    }

    /** Scores in runs of the configured batch size; the pairs' ensemble means update the model's normaliser. */
    private static ModelScores score(Formatted f) throws Exception {
        float[][] members = f.model().scorer().score(f.sequences()); // [B][K]
        double[] means = new double[members.length];
        for (int i = 0; i < members.length; i++) {
            means[i] = Ensemble.mean(members[i]);
        }
        return new ModelScores(f.model(), members, f.model().normalizer().observe(means), f.truncated());
    }

    /** Pair {@code i}'s components (in configuration order), total and uncertainty. */
    private PairScore pairScore(int i, ScorePair pair, List<Component> selected, Map<String, ModelScores> byModel) {
        PairScore.Builder score = PairScore.newBuilder();
        double[] weights = new double[selected.size()];
        double[] values = new double[selected.size()];
        double[] uncertainties = new double[selected.size()]; // 0 for rules
        for (int c = 0; c < selected.size(); c++) {
            Component component = selected.get(c);
            weights[c] = component.weight();
            RewardComponent.Builder rc = RewardComponent.newBuilder().setName(component.name()).setWeight(weights[c]);
            if (component instanceof Learned l) {
                ModelScores s = byModel.get(l.model());
                double mean = Ensemble.mean(s.members()[i]);
                double std = Ensemble.std(s.members()[i]);
                values[c] = l.normalise() ? s.stats().normalise(mean) : mean;
                uncertainties[c] = l.normalise() ? s.stats().rescale(std) : std;
                rc.setModel(s.model().ref());
                score.setTruncated(score.getTruncated() || s.truncated()[i]);
            } else {
                values[c] = ((RuleBased) component).rule().value(pair.getPrompt(), pair.getResponse());
            }
            score.addComponents(rc.setValue(values[c]).setUncertainty(uncertainties[c]));
            componentValues.get(component.name()).record(values[c]);
        }
        double total = Combination.total(weights, values);
        totals.record(total);
        if (score.getTruncated()) {
            meters.counter("rlhf.reward.pairs.truncated").increment();
        }
        return score.setTotal(total).setUncertainty(Combination.uncertainty(weights, uncertainties)).build();
    }

    /** 1. the rules of reward.proto that need no model. */
    private void check(ScoreRequest r) {
        int n = r.getPairsCount();
        if (n < 1 || n > limits.maxPairs()) {
            throw invalid("pairs must hold 1.." + limits.maxPairs() + " pairs, got " + n);
        }
        boolean anyIds = false;
        for (int i = 0; i < n; i++) {
            ScorePair p = r.getPairs(i);
            if (p.getPrompt().isEmpty()) {
                throw invalid("pairs[" + i + "].prompt must not be empty");
            }
            if (p.getPromptBytes().size() > MAX_TEXT_BYTES) {
                throw invalid("pairs[" + i + "].prompt must be at most " + MAX_TEXT_BYTES + " bytes of UTF-8, was "
                        + p.getPromptBytes().size());
            }
            if (p.getResponseBytes().size() > MAX_TEXT_BYTES) {
                throw invalid("pairs[" + i + "].response must be at most " + MAX_TEXT_BYTES + " bytes of UTF-8, was "
                        + p.getResponseBytes().size());
            }
            if (p.getResponseTokenIdsCount() > 0 && p.getPromptTokenIdsCount() == 0) {
                throw invalid("pairs[" + i + "].prompt_token_ids must be given with response_token_ids");
            }
            anyIds |= p.getPromptTokenIdsCount() > 0;
        }
        if (anyIds && r.getTokenizerSha256().isEmpty()) {
            throw invalid("tokenizer_sha256 is required when pairs carry token ids: give the SHA-256 of the"
                    + " tokenizer.json that produced them (ModelVersion.files of the policy)");
        }
        if (!r.getTokenizerSha256().isEmpty() && !SHA256.matcher(r.getTokenizerSha256()).matches()) {
            throw invalid("tokenizer_sha256 must be 64 lowercase hex digits, was '" + r.getTokenizerSha256() + "'");
        }
    }

    private StatusRuntimeException overloaded(int pairs) {
        Metadata trailers = new Metadata();
        trailers.put(RETRY_AFTER_MS, Integer.toString(limits.retryAfterMs()));
        return Status.RESOURCE_EXHAUSTED.withDescription("reward-service is scoring its limit of "
                + limits.maxInflightPairs() + " pairs; this call's " + pairs + " do not fit; retry after "
                + limits.retryAfterMs() + " ms").asRuntimeException(trailers);
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
