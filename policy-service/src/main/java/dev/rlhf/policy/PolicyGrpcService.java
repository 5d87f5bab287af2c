package dev.rlhf.policy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

import com.google.protobuf.Timestamp;

import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.policy.engine.ContinuousBatcher;
import dev.rlhf.proto.v1.ExecutionProvider;
import dev.rlhf.proto.v1.FinishReason;
import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.GenerateStreamChunk;
import dev.rlhf.proto.v1.GeneratedSample;
import dev.rlhf.proto.v1.ListModelsRequest;
import dev.rlhf.proto.v1.ListModelsResponse;
import dev.rlhf.proto.v1.ModelArchitecture;
import dev.rlhf.proto.v1.ModelKind;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PolicyServiceGrpc;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.ScoreLogprobsItem;
import dev.rlhf.proto.v1.ScoreLogprobsRequest;
import dev.rlhf.proto.v1.ScoreLogprobsResponse;
import dev.rlhf.proto.v1.ScoredSequence;
import dev.rlhf.proto.v1.ServedModel;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;

/**
 * PolicyService: generation (unary and streaming) through each model's continuous batcher,
 * teacher-forced scoring, and the list of served versions. Errors as documented in
 * policy.proto: INVALID_ARGUMENT naming the field, NOT_FOUND, RESOURCE_EXHAUSTED with a
 * {@code retry-after-ms} trailer.
 */
@GrpcService
public class PolicyGrpcService extends PolicyServiceGrpc.PolicyServiceImplBase {

    /** Longest wait of a ListModels long poll (policy.proto wait_max). */
    private static final long MAX_LIST_WAIT_MS = 30_000;

    static final Metadata.Key<String> RETRY_AFTER_MS = Metadata.Key.of("retry-after-ms", Metadata.ASCII_STRING_MARSHALLER);

    private final ModelRegistry registry;
    private final PolicyConfig config;
    private final InteractionLog interactions;
    private final io.micrometer.core.instrument.MeterRegistry meters;

    PolicyGrpcService(ModelRegistry registry, PolicyConfig config, InteractionLog interactions,
            io.micrometer.core.instrument.MeterRegistry meters) {
        this.registry = registry;
        this.config = config;
        this.interactions = interactions;
        this.meters = meters;
    }

    /** Per-token metrics of one sample, tagged by model and version. */
    private void tokenMetrics(Plan plan, Sample s, long now) {
        var m = plan.model();
        String version = Long.toString(m.versionNumber());
        meters.counter("rlhf.policy.output.tokens", "model", m.name(), "version", version).increment();
        if (s.lastTokenNanos == 0) {
            io.micrometer.core.instrument.Timer.builder("rlhf.policy.time.to.first.token").tags("model", m.name(),
                    "version", version).publishPercentileHistogram().register(meters)
                    .record(now - plan.startNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
        } else {
            io.micrometer.core.instrument.Timer.builder("rlhf.policy.inter.token.latency").tags("model", m.name(),
                    "version", version).publishPercentileHistogram().register(meters)
                    .record(now - s.lastTokenNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
        }
        s.lastTokenNanos = now;
    }

    /** A validated generation request. */
    private record Plan(dev.rlhf.policy.ServedModel model, int[] prompt, String promptText, int n,
            OrtDecoder.Sampling sampling, List<String> stops, SamplingParams effective,
            java.util.concurrent.atomic.AtomicBoolean aborted, GenerateRequest request, long startNanos) {
    }

    @Override
    public void generate(GenerateRequest request, StreamObserver<GenerateResponse> out) {
        Plan plan;
        try {
            plan = plan(request);
        } catch (StatusRuntimeException e) {
            out.onError(e);
            return;
        }
        long start = System.nanoTime();
        GeneratedSample.Builder[] samples = new GeneratedSample.Builder[plan.n()];
        AtomicInteger open = new AtomicInteger(plan.n());
        ServerCallStreamObserver<GenerateResponse> call = (ServerCallStreamObserver<GenerateResponse>) out;
        Runnable finish = () -> {
            GenerateResponse.Builder r = GenerateResponse.newBuilder().setModel(ref(plan.model()))
                    .setPromptTokenCount(plan.prompt().length)
                    .addAllPromptTokenIds(Arrays.stream(plan.prompt()).boxed().toList())
                    .setPromptText(plan.promptText()).setSampling(plan.effective())
                    .setRequestId(request.getRequestId());
            for (GeneratedSample.Builder s : samples) {
                r.addSamples(s);
            }
            r.setUsage(dev.rlhf.proto.v1.GenerationUsage.newBuilder().setPromptTokens(plan.prompt().length)
                    .setCompletionTokens(Arrays.stream(samples).mapToInt(GeneratedSample.Builder::getTokenIdsCount).sum())
                    .setTotalTime(com.google.protobuf.util.Durations.fromNanos(System.nanoTime() - start)));
            out.onNext(r.build());
            out.onCompleted();
        };
        try {
            for (int i = 0; i < plan.n(); i++) {
                int index = i;
                samples[i] = GeneratedSample.newBuilder().setSampleIndex(i);
                submit(plan, i, new Sample(plan, call, i) {
                    @Override
                    void onToken(int token, float logprob) {
                        samples[index].addTokenIds(token).addLogprobs(logprob);
                    }

                    @Override
                    void onEnd(FinishReason reason, String text, Throwable error) {
                        samples[index].setFinishReason(reason).setText(text).setInteractionId(interactionId);
                        if (plan.aborted().get()) {
                            return;
                        }
                        if (error != null && open.getAndSet(-1) > 0) {
                            out.onError(Status.INTERNAL.withDescription("the inference engine failed: " + error)
                                    .asRuntimeException());
                        } else if (open.decrementAndGet() == 0) {
                            finish.run();
                        }
                    }
                }, out);
            }
        } finally {
            plan.model().release(); // submitted: the batcher keeps the version alive
        }
    }

    @Override
    public void generateStream(GenerateRequest request, StreamObserver<GenerateStreamChunk> out) {
        Plan plan;
        try {
            plan = plan(request);
        } catch (StatusRuntimeException e) {
            out.onError(e);
            return;
        }
        ServerCallStreamObserver<GenerateStreamChunk> call = (ServerCallStreamObserver<GenerateStreamChunk>) out;
        AtomicInteger open = new AtomicInteger(plan.n());
        int[] completionTokens = {0};
        boolean[] first = {true};
        long start = System.nanoTime();
        Object lock = new Object();
        try {
            for (int i = 0; i < plan.n(); i++) {
                int index = i;
                submit(plan, i, new Sample(plan, call, i) {
                    /** Characters of this sample's text already sent. */
                    int sent;

                    @Override
                    void onToken(int token, float logprob) {
                        String text = text(false);
                        int safe = safeEnd(text, plan.stops());
                        String delta = safe > sent ? text.substring(sent, safe) : "";
                        sent = Math.max(sent, safe);
                        send(GenerateStreamChunk.newBuilder().setSampleIndex(index).addTokenIds(token).addLogprobs(logprob)
                                .setText(delta));
                    }

                    @Override
                    void onEnd(FinishReason reason, String text, Throwable error) {
                        synchronized (lock) {
                            if (call.isCancelled() || open.get() < 0 || plan.aborted().get()) {
                                return;
                            }
                            if (error != null) {
                                open.set(-1);
                                call.onError(Status.INTERNAL.withDescription("the inference engine failed: " + error)
                                        .asRuntimeException());
                                return;
                            }
                            completionTokens[0] += ids.size();
                            GenerateStreamChunk.Builder last = GenerateStreamChunk.newBuilder().setSampleIndex(index)
                                    .setFinishReason(reason).setModel(ref(plan.model())).setInteractionId(interactionId)
                                    .setText(text.length() > sent ? text.substring(sent) : "");
                            boolean done = open.decrementAndGet() == 0;
                            if (done) {
                                last.setUsage(dev.rlhf.proto.v1.GenerationUsage.newBuilder()
                                        .setPromptTokens(plan.prompt().length).setCompletionTokens(completionTokens[0])
                                        .setTotalTime(com.google.protobuf.util.Durations.fromNanos(System.nanoTime() - start)));
                            }
                            send(last);
                            if (done) {
                                call.onCompleted();
                            }
                        }
                    }

                    /** Sends a chunk; the call's first one names the version, the request and the prompt length. */
                    private void send(GenerateStreamChunk.Builder chunk) {
                        synchronized (lock) {
                            if (call.isCancelled()) {
                                return;
                            }
                            if (first[0]) {
                                first[0] = false;
                                chunk.setModel(ref(plan.model())).setRequestId(request.getRequestId())
                                        .setPromptTokenCount(plan.prompt().length);
                            }
                            call.onNext(chunk.build());
                        }
                    }
                }, out);
            }
        } finally {
            plan.model().release();
        }
    }

    /**
     * How much of a sample's text so far can be streamed: not a trailing incomplete UTF-8
     * character (decoded as U+FFFD) and not a tail that could begin a stop string.
     */
    static int safeEnd(String text, List<String> stops) {
        int end = text.length();
        while (end > 0 && text.charAt(end - 1) == '\uFFFD') {
            end--;
        }
        for (String stop : stops) {
            int at = text.indexOf(stop);
            if (at >= 0) {
                end = Math.min(end, at);
            }
        }
        int hold = 0;
        for (String stop : stops) {
            for (int k = Math.min(stop.length() - 1, end); k > hold; k--) {
                if (text.regionMatches(end - k, stop, 0, k)) {
                    hold = k;
                    break;
                }
            }
        }
        return end - hold;
    }

    @Override
    @Blocking
    public void scoreLogprobs(ScoreLogprobsRequest request, StreamObserver<ScoreLogprobsResponse> out) {
        try {
            dev.rlhf.policy.ServedModel m = model(request.getModel());
            try {
                out.onNext(score(m, request));
            } finally {
                m.release();
            }
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        } catch (Exception e) {
            out.onError(Status.INTERNAL.withDescription("scoring failed: " + e).asRuntimeException());
        }
    }

    private ScoreLogprobsResponse score(dev.rlhf.policy.ServedModel m, ScoreLogprobsRequest request) throws Exception {
        if (request.getItemsCount() == 0) {
            throw invalid("items must hold at least one (prompt, response) pair");
        }
        float t = request.getTemperature() == 0 ? 1f : request.getTemperature();
        if (!(t > 0) || t > 2) {
            throw invalid("temperature must be in (0, 2], was " + request.getTemperature());
        }
        List<int[]> prompts = new ArrayList<>();
        List<int[]> responses = new ArrayList<>();
        for (int i = 0; i < request.getItemsCount(); i++) {
            ScoreLogprobsItem item = request.getItems(i);
            int[] p = item.hasPromptTokenIds() ? ids(item.getPromptTokenIds().getIdsList(), m, "items[" + i + "].prompt_token_ids")
                    : m.tokenizer().encode(item.getPromptText());
            int[] r = item.hasResponseTokenIds()
                    ? ids(item.getResponseTokenIds().getIdsList(), m, "items[" + i + "].response_token_ids")
                    : m.tokenizer().encode(item.getResponseText());
            if (request.getAppendEos()) {
                r = Arrays.copyOf(r, r.length + 1);
                r[r.length - 1] = m.config().eosTokenIds().get(0);
            }
            if (p.length == 0 || r.length == 0) {
                throw invalid("items[" + i + "]: prompt and response must be non-empty");
            }
            if (p.length + r.length > m.config().maxPositionEmbeddings()) {
                throw invalid("items[" + i + "]: prompt plus response is " + (p.length + r.length)
                        + " tokens, context length is " + m.config().maxPositionEmbeddings());
            }
            prompts.add(p);
            responses.add(r);
        }
        List<float[]> lps = m.logprobs(prompts, responses, t);
        ScoreLogprobsResponse.Builder b = ScoreLogprobsResponse.newBuilder().setModel(ref(m));
        for (int i = 0; i < lps.size(); i++) {
            ScoredSequence.Builder s = ScoredSequence.newBuilder().setPromptTokenCount(prompts.get(i).length);
            double total = 0;
            for (int j = 0; j < lps.get(i).length; j++) {
                s.addResponseTokenIds(responses.get(i)[j]).addLogprobs(lps.get(i)[j]);
                total += lps.get(i)[j];
            }
            b.addResults(s.setTotalLogprob(total));
        }
        return b.build();
    }

    @Override
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> out) {
        if (!request.hasNewerThan()) {
            if (request.hasWaitMax()) {
                out.onError(invalid("wait_max is only for a long poll: set newer_than too"));
                return;
            }
            answerListModels(request, out);
            return;
        }
        long waitMs = request.hasWaitMax() ? request.getWaitMax().getSeconds() * 1000
                + request.getWaitMax().getNanos() / 1_000_000 : MAX_LIST_WAIT_MS / 3;
        if (request.getName().isEmpty() || request.getNewerThan() < 0 || waitMs <= 0 || waitMs > MAX_LIST_WAIT_MS) {
            out.onError(invalid(request.getName().isEmpty() ? "name is required with newer_than (a long poll waits for"
                    + " one model)" : request.getNewerThan() < 0 ? "newer_than must be >= 0, got "
                            + request.getNewerThan() : "wait_max must be in (0, 30 s], got " + waitMs + " ms"));
            return;
        }
        // a long poll: answered from the swapping thread (or the timeout's), never blocking this one
        var waiting = registry.newerThan(request.getName(), request.getNewerThan())
                .completeOnTimeout(null, waitMs, java.util.concurrent.TimeUnit.MILLISECONDS);
        ((ServerCallStreamObserver<ListModelsResponse>) out).setOnCancelHandler(() -> waiting.cancel(false));
        waiting.thenRun(() -> answerListModels(request, out));
    }

    private void answerListModels(ListModelsRequest request, StreamObserver<ListModelsResponse> out) {
        ListModelsResponse.Builder b = ListModelsResponse.newBuilder();
        for (dev.rlhf.policy.ServedModel m : registry.all()) {
            if (!request.getName().isEmpty() && !m.name().equals(request.getName())) {
                continue;
            }
            var c = m.config();
            long params = dev.rlhf.model.LlamaWeights.expectedShapes(c).values().stream()
                    .mapToLong(s -> Arrays.stream(s).reduce(1, (x, y) -> x * y)).sum();
            b.addModels(ServedModel.newBuilder().setModel(ref(m)).setKind(kind(m)).setCurrent(true)
                    .setLoadedSince(Timestamp.newBuilder().setSeconds(m.loadedSince().getEpochSecond())
                            .setNanos(m.loadedSince().getNano()))
                    .setExecutionProvider(m.provider() == OrtDecoder.Provider.CUDA ? ExecutionProvider.EXECUTION_PROVIDER_CUDA
                            : ExecutionProvider.EXECUTION_PROVIDER_CPU)
                    .setArchitecture(ModelArchitecture.newBuilder().setModelType(c.modelType()).setParameterCount(params)
                            .setVocabSize(c.vocabSize()).setContextLength(c.maxPositionEmbeddings())
                            .setNumLayers(c.numHiddenLayers()).setHiddenSize(c.hiddenSize())
                            .setNumAttentionHeads(c.numAttentionHeads()).setNumKeyValueHeads(c.numKeyValueHeads())));
        }
        out.onNext(b.build());
        out.onCompleted();
    }

    // ---- generation plumbing ----

    /** One sample's sink: collects ids, applies stop strings, maps the end to a FinishReason. */
    private abstract class Sample implements ContinuousBatcher.Sink {
        final Plan plan;
        final ServerCallStreamObserver<?> caller;
        final Context ctx = Context.current();
        final int index;
        final String interactionId = UUID.randomUUID().toString();
        final List<Integer> ids = new ArrayList<>();
        final List<Float> logprobs = new ArrayList<>();
        volatile boolean stoppedByString;
        long lastTokenNanos;

        Sample(Plan plan, ServerCallStreamObserver<?> call, int index) {
            this.plan = plan;
            this.caller = call;
            this.index = index;
        }

        abstract void onToken(int token, float logprob);

        abstract void onEnd(FinishReason reason, String text, Throwable error);

        /** The caller cancelled, or its deadline passed: the row is freed at the next step. */
        boolean clientGone() {
            return caller.isCancelled() || ctx.isCancelled() || (ctx.getDeadline() != null && ctx.getDeadline().isExpired());
        }

        @Override
        public void token(int token, float logprob) {
            tokenMetrics(plan, this, System.nanoTime());
            ids.add(token);
            logprobs.add(logprob);
            onToken(token, logprob);
            if (!plan.stops().isEmpty()) {
                String text = text(false);
                stoppedByString = plan.stops().stream().anyMatch(text::contains);
            }
        }

        @Override
        public void finished(OrtDecoder.Finish finish) {
            FinishReason reason = stoppedByString || finish == OrtDecoder.Finish.STOP ? FinishReason.FINISH_REASON_STOP
                    : clientGone() ? FinishReason.FINISH_REASON_CANCELLED : FinishReason.FINISH_REASON_LENGTH;
            String text = text(true);
            logInteraction(reason, text);
            onEnd(reason, text, null);
        }

        @Override
        public void failed(Throwable error) {
            String text = text(true);
            logInteraction(FinishReason.FINISH_REASON_ERROR, text);
            onEnd(FinishReason.FINISH_REASON_ERROR, text, error);
        }

        private void logInteraction(FinishReason reason, String text) {
            GenerateRequest r = plan.request();
            if (r.getSkipInteractionLog() || plan.aborted().get()) {
                return;
            }
            java.time.Instant now = java.time.Instant.now();
            interactions.log(dev.rlhf.proto.v1.Interaction.newBuilder().setInteractionId(interactionId)
                    .setRequestId(r.getRequestId()).setModel(ref(plan.model())).setPrompt(plan.promptText())
                    .setPromptHash(InteractionLog.promptHash(plan.promptText()))
                    .addAllPromptTokenIds(Arrays.stream(plan.prompt()).boxed().toList()).setResponse(text)
                    .addAllResponseTokenIds(ids).addAllResponseLogprobs(logprobs).setFinishReason(reason)
                    .setSampling(plan.effective()).setSampleIndex(index).setUserId(r.getUserId()).setAppId(r.getAppId())
                    .setCreatedAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
                    .setTotalLatency(com.google.protobuf.util.Durations.fromNanos(System.nanoTime() - plan.startNanos()))
                    .build());
        }

        @Override
        public boolean cancelled() {
            return stoppedByString || plan.aborted().get() || clientGone();
        }

        /** Response text: without a final EOS/stop token, cut before a stop string. */
        String text(boolean cut) {
            List<Integer> body = new ArrayList<>(ids);
            Set<Integer> enders = new HashSet<>(plan.model().config().eosTokenIds());
            enders.addAll(plan.sampling().stopTokens());
            if (!body.isEmpty() && enders.contains(body.get(body.size() - 1))) {
                body.remove(body.size() - 1);
            }
            String text = decode(plan.model(), body);
            if (cut) {
                for (String stop : plan.stops()) {
                    int at = text.indexOf(stop);
                    if (at >= 0) {
                        text = text.substring(0, at);
                    }
                }
            }
            return text;
        }
    }

    /** Queues sample {@code sampleIndex} (its own seed); a full queue aborts the whole call once. */
    private void submit(Plan plan, int sampleIndex, Sample sink, StreamObserver<?> out) {
        if (plan.aborted().get()) {
            return;
        }
        OrtDecoder.Sampling s = plan.sampling();
        OrtDecoder.Sampling own = new OrtDecoder.Sampling(s.maxNewTokens(), s.temperature(), s.topK(), s.topP(),
                s.seed() + sampleIndex, s.stopTokens());
        try {
            plan.model().batcher().submit(plan.prompt(), own, sink);
        } catch (ContinuousBatcher.Overloaded e) {
            if (!plan.aborted().getAndSet(true)) {
                out.onError(overloaded(e.getMessage()));
            }
        }
    }

    private StatusRuntimeException overloaded(String message) {
        Metadata trailers = new Metadata();
        trailers.put(RETRY_AFTER_MS, Integer.toString(config.retryAfterMs()));
        return Status.RESOURCE_EXHAUSTED.withDescription(message + "; retry after " + config.retryAfterMs() + " ms")
                .asRuntimeException(trailers);
    }

    /** Validates {@code r} against the model it names, leased: the caller releases it once submitted. */
    private Plan plan(GenerateRequest r) {
        dev.rlhf.policy.ServedModel m = model(r.getModel());
        try {
            return planOn(m, r);
        } catch (RuntimeException e) {
            m.release();
            throw e;
        }
    }

    private Plan planOn(dev.rlhf.policy.ServedModel m, GenerateRequest r) {
        int[] prompt;
        if (r.hasPromptTokenIds()) {
            prompt = ids(r.getPromptTokenIds().getIdsList(), m, "prompt_token_ids");
        } else {
            prompt = m.tokenizer().encode(r.getPromptText());
        }
        if (prompt.length == 0) {
            throw invalid("prompt_text or prompt_token_ids is required (the prompt is empty)");
        }
        int context = m.config().maxPositionEmbeddings();
        if (prompt.length >= context) {
            throw invalid("the prompt is " + prompt.length + " tokens, context length is " + context);
        }
        SamplingParams sp = r.getSampling();
        int maxNew = sp.getMaxNewTokens() == 0 ? Math.min(config.defaultMaxNewTokens(), config.maxNewTokensLimit())
                : sp.getMaxNewTokens();
        if (maxNew < 0 || maxNew > config.maxNewTokensLimit()) {
            throw invalid("sampling.max_new_tokens must be in 1.." + config.maxNewTokensLimit() + ", was "
                    + sp.getMaxNewTokens());
        }
        maxNew = Math.min(maxNew, context - prompt.length);
        if (sp.getTemperature() < 0 || sp.getTemperature() > 2 || Float.isNaN(sp.getTemperature())) {
            throw invalid("sampling.temperature must be in [0, 2], was " + sp.getTemperature());
        }
        float topP = sp.getTopP() == 0 ? 1f : sp.getTopP();
        if (!(topP > 0 && topP <= 1)) {
            throw invalid("sampling.top_p must be in (0, 1], was " + sp.getTopP());
        }
        if (sp.getTopK() < 0 || sp.getTopK() > m.config().vocabSize()) {
            throw invalid("sampling.top_k must be in 0.." + m.config().vocabSize() + ", was " + sp.getTopK());
        }
        int n = sp.getN() == 0 ? 1 : sp.getN();
        if (n < 1 || n > config.maxSamples()) {
            throw invalid("sampling.n must be in 1.." + config.maxSamples() + ", was " + sp.getN());
        }
        if (sp.getStopCount() > 8 || sp.getStopList().stream().anyMatch(s -> s.isEmpty() || s.length() > 128)) {
            throw invalid("sampling.stop: at most 8 strings of 1..128 characters");
        }
        if (sp.getStopTokenIdsCount() > 32) {
            throw invalid("sampling.stop_token_ids: at most 32 ids");
        }
        ids(sp.getStopTokenIdsList(), m, "sampling.stop_token_ids");
        long seed = sp.hasSeed() ? sp.getSeed() : ThreadLocalRandom.current().nextLong();
        OrtDecoder.Sampling sampling = new OrtDecoder.Sampling(maxNew, sp.getTemperature(), sp.getTopK(), topP, seed,
                new HashSet<>(sp.getStopTokenIdsList()));
        SamplingParams effective = sp.toBuilder().setMaxNewTokens(maxNew).setTopP(topP).setN(n).setSeed(seed).build();
        if (m.batcher().queueDepth() + n > config.maxQueue()) {
            throw overloaded("the decode queue of " + m.name() + " is full (" + m.batcher().queueDepth() + " waiting)");
        }
        return new Plan(m, prompt, r.getPromptText(), n, sampling, sp.getStopList(), effective,
                new java.util.concurrent.atomic.AtomicBoolean(), r, System.nanoTime());
    }

    /** The model {@code ref} names, leased (see {@link ServedModel#acquire}); the caller releases it. */
    private dev.rlhf.policy.ServedModel model(ModelRef ref) {
        String name = ref.getName().isEmpty() ? "policy" : ref.getName();
        return registry.lease(name, ref.getVersion()).orElseThrow(() -> Status.NOT_FOUND
                .withDescription("model " + name + (ref.getVersion() == 0 ? "" : " v" + ref.getVersion())
                        + " is not loaded; served: " + registry.all().stream().map(s -> s.name() + " v" + s.versionNumber())
                                .toList())
                .asRuntimeException());
    }

    private static int[] ids(List<Integer> ids, dev.rlhf.policy.ServedModel m, String field) {
        int vocab = m.config().vocabSize();
        for (int i = 0; i < ids.size(); i++) {
            if (ids.get(i) < 0 || ids.get(i) >= vocab) {
                throw invalid(field + "[" + i + "] must be in [0, " + vocab + "), was " + ids.get(i));
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Text of token ids; ids the tokenizer does not have (a model vocabulary padded beyond
     * the tokenizer, as many checkpoints are) become U+FFFD instead of failing the call.
     */
    private static String decode(dev.rlhf.policy.ServedModel m, List<Integer> ids) {
        int known = m.tokenizer().vocabSize();
        StringBuilder out = new StringBuilder();
        List<Integer> run = new ArrayList<>();
        for (int id : ids) {
            if (id < known) {
                run.add(id);
            } else {
                out.append(m.tokenizer().decode(run.stream().mapToInt(Integer::intValue).toArray())).append('\uFFFD');
                run.clear();
            }
        }
        return out.append(m.tokenizer().decode(run.stream().mapToInt(Integer::intValue).toArray())).toString();
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    private static ModelRef ref(dev.rlhf.policy.ServedModel m) {
        return ModelRef.newBuilder().setName(m.name()).setVersion(m.versionNumber()).build();
    }

    private static ModelKind kind(dev.rlhf.policy.ServedModel m) {
        return switch (m.version().kind()) {
            case POLICY -> ModelKind.MODEL_KIND_POLICY;
            case REFERENCE -> ModelKind.MODEL_KIND_REFERENCE;
            case REWARD -> ModelKind.MODEL_KIND_REWARD;
            case VALUE -> ModelKind.MODEL_KIND_VALUE;
        };
    }
}
