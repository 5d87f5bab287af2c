package dev.rlhf.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import dev.rlhf.kafka.support.ReliableProducers;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;
import dev.rlhf.model.ort.OrtPeak;
import dev.rlhf.model.text.DefaultTokenizer;
import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.GenerateStreamChunk;
import dev.rlhf.proto.v1.ModelVersion;
import dev.rlhf.proto.v1.PolicyServiceGrpc;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.TokenSequence;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.ServiceJar;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;

/**
 * {@code bin/rlhf bench policy}: the packaged policy-service on a ~32M-parameter model, driven
 * over real gRPC by 1, 8 and 32 concurrent streaming clients. Prints output tokens/s and
 * time to first token (p50/p99) per concurrency; the ratio of 32 clients to 1 (the same
 * requests one after another); the ratio to a compute roofline: the FLOP rate of the tokens
 * processed (2·N per token: the prompts the service prefilled and the tokens it generated)
 * ÷ the fp32 MatMul peak of ONNX Runtime measured in this run, the best of measurements
 * before the service starts, between the phases and after them (printed also with output
 * tokens alone, which leaves the prefill work out); and a hot swap under load: time
 * from announce to the first response of the new version, and failed requests. Last, the
 * 32-client phase again on a service with {@code rlhf.policy.attention=standard} (the model
 * file's graph, caches gathered): the baseline of the fused-attention engine, in the same run.
 */
public final class PolicyBench {

    private static final int PROMPT = 16;

    public static void main(String[] args) throws Exception {
        int seconds = Integer.getInteger("seconds", 12);
        int maxNew = Integer.getInteger("tokens", 32);
        Path root = Path.of(System.getProperty("rlhf.root", "."));
        KafkaTestBroker broker = KafkaTestBroker.shared();
        Path store = Files.createTempDirectory("policy-bench-store");
        // vocabulary = the byte-level tokenizer's (262 tokens + merges), so that every id decodes
        Path tok = Files.createTempDirectory("policy-bench-tok").resolve("tokenizer.json");
        DefaultTokenizer.write(tok, List.of("benchmark"), 300);
        int vocab;
        try (dev.rlhf.model.text.Tokenizer t = dev.rlhf.model.text.Tokenizer.load(tok)) {
            vocab = t.vocabSize();
        }
        ModelConfig c = new ModelConfig(vocab, 512, 1536, 8, 8, 4, 1e-5, 10000, 512, false, 1, List.of(2), 0, "llama");
        long n = writeVersion(store, c, 1);
        // the peak before the service starts (its start-up would compete), between the phases
        // and after them: the roofline is the best, so a busy moment cannot lower it
        int cpus = Runtime.getRuntime().availableProcessors();
        double peakBefore = OrtPeak.matMulGflops(cpus);
        int port = ServiceJar.freePort();
        Process service = start(root, port, broker.bootstrapServers(), store, "fused");
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        Phase standard;
        double peak;
        double fused32;
        try {
            System.out.printf("policy bench: %.1fM parameters, prompt %d tokens, %d new tokens per request, %d s per"
                    + " phase%n", n / 1e6, PROMPT, maxNew, seconds);
            load(channel, 4, maxNew, 3, null); // warmup
            Map<Integer, Phase> phases = new LinkedHashMap<>();
            double peakBetween = 0;
            for (int concurrency : new int[] {1, 8, 32}) {
                phases.put(concurrency, load(channel, concurrency, maxNew, seconds, null));
                peakBetween = Math.max(peakBetween, OrtPeak.matMulGflops(cpus));
            }
            // swap under load: a new version is stored and announced while 32 clients run
            Phase underSwap;
            Swap swap;
            try (Swap s = new Swap(store, c, broker.bootstrapServers())) {
                swap = s;
                underSwap = load(channel, 32, maxNew, seconds, swap);
            }
            double peakAfter = OrtPeak.matMulGflops(cpus);
            peak = Math.max(peakBefore, Math.max(peakBetween, peakAfter));
            System.out.printf("ONNX Runtime fp32 MatMul peak %.1f GFLOP/s: the best of %.1f before the service started,"
                    + " %.1f between the phases (the service idle) and %.1f after them%n", peak, peakBefore, peakBetween,
                    peakAfter);

            System.out.println();
            System.out.println("| clients | output tokens/s | TTFT p50 | TTFT p99 | vs 1 client | vs compute roofline"
                    + " | (output tokens only) | failed |");
            System.out.println("|---|---|---|---|---|---|---|---|");
            double one = phases.get(1).tokensPerSecond();
            fused32 = phases.get(32).tokensPerSecond();
            for (var e : phases.entrySet()) {
                Phase p = e.getValue();
                System.out.printf("| %d | %,.0f | %.1f ms | %.1f ms | %.2f× | %.2f | %.2f | %d |%n", e.getKey(),
                        p.tokensPerSecond(), p.ttft(50), p.ttft(99), p.tokensPerSecond() / one, p.roofline(n, peak, true),
                        p.roofline(n, peak, false), p.failed);
            }
            System.out.printf("%nswap under load (32 clients): announce → first response from v2 in %s; %d requests"
                    + " failed of %d; target ≤ 2 s and 0%n", swap.firstNewResponseNanos.get() == 0 ? "never"
                            : String.format("%.0f ms", (swap.firstNewResponseNanos.get() - swap.announcedNanos) / 1e6),
                    underSwap.failed, underSwap.requests);
        } finally {
            channel.shutdownNow();
            service.destroy();
            service.waitFor(20, TimeUnit.SECONDS);
        }
        // the baseline: the same 32 clients on standard attention (serving v2, the latest stored)
        port = ServiceJar.freePort();
        service = start(root, port, broker.bootstrapServers(), store, "standard");
        channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            load(channel, 4, maxNew, 3, null); // warmup
            standard = load(channel, 32, maxNew, seconds, null);
        } finally {
            channel.shutdownNow();
            service.destroy();
            service.waitFor(20, TimeUnit.SECONDS);
        }
        System.out.printf("%n32 clients on rlhf.policy.attention=standard (the model file's graph, caches gathered):"
                + " %,.0f output tokens/s, TTFT p50 %.1f ms, roofline %.2f, %d failed; fused attention above gives"
                + " %.2f× its tokens/s%n", standard.tokensPerSecond(), standard.ttft(50), standard.roofline(n, peak, true),
                standard.failed, fused32 / standard.tokensPerSecond());
    }

    /** Starts policy-service on the store with the given attention engine. */
    private static Process start(Path root, int port, String bootstrap, Path store, String attention) throws Exception {
        int cpus = Runtime.getRuntime().availableProcessors();
        return ServiceJar.start(root.resolve("policy-service/target/quarkus-app/quarkus-run.jar"),
                root.resolve(".rlhf/logs/bench-policy.log"), port, List.of("-Xmx2g", "-Dquarkus.log.level=WARN",
                        "-Dkafka.bootstrap.servers=" + bootstrap, "-Drlhf.policy.model-store=" + store,
                        "-Drlhf.policy.models=policy", "-Dquarkus.log.category.\"dev.rlhf\".level=DEBUG",
                        "-Drlhf.policy.max-batch=32", "-Drlhf.policy.max-queue=64", "-Drlhf.policy.threads=" + cpus,
                        "-Drlhf.policy.attention=" + attention));
    }

    /** One measured phase. */
    private static final class Phase {
        final ConcurrentLinkedQueue<Long> ttft = new ConcurrentLinkedQueue<>();
        final AtomicLong tokens = new AtomicLong();
        /** Prompt tokens of the requests that produced output: prefilled, so part of the work. */
        final AtomicLong promptTokens = new AtomicLong();
        long failed;
        long requests;
        double seconds;

        double tokensPerSecond() {
            return tokens.get() / seconds;
        }

        /** Fraction of the compute roofline: 2·N FLOP per token processed (prompt and output) ÷ peak. */
        double roofline(long parameters, double peakGflops, boolean withPrompts) {
            long processed = tokens.get() + (withPrompts ? promptTokens.get() : 0);
            return processed / seconds * 2.0 * parameters / (peakGflops * 1e9);
        }

        double ttft(int percentile) {
            long[] sorted = ttft.stream().mapToLong(Long::longValue).sorted().toArray();
            if (sorted.length == 0) {
                return Double.NaN;
            }
            return sorted[Math.min(sorted.length - 1, (int) Math.ceil(percentile / 100.0 * sorted.length) - 1)] / 1e6;
        }
    }

    /**
     * {@code concurrency} clients streaming back-to-back generations for {@code seconds}. The
     * clients are asynchronous calls on the channel's event loop (a finished stream starts the
     * client's next request), not a thread each: the load generator shares the service's cores
     * and should take as little of them as it can.
     */
    private static Phase load(ManagedChannel channel, int concurrency, int maxNew, int seconds, Swap swap)
            throws Exception {
        Phase phase = new Phase();
        AtomicLong failed = new AtomicLong();
        AtomicLong requests = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        java.util.concurrent.CountDownLatch stopped = new java.util.concurrent.CountDownLatch(concurrency);
        PolicyServiceGrpc.PolicyServiceStub stub = PolicyServiceGrpc.newStub(channel);
        long start = System.nanoTime();
        for (int w = 0; w < concurrency; w++) {
            new Client(stub, new Random(w), maxNew, phase, swap, stop, failed, requests, stopped).next();
        }
        if (swap != null) {
            Thread.sleep(seconds * 300L);
            swap.run();
            Thread.sleep(seconds * 700L);
        } else {
            Thread.sleep(seconds * 1000L);
        }
        stop.set(true);
        stopped.await(120, TimeUnit.SECONDS);
        phase.seconds = (System.nanoTime() - start) / 1e9;
        phase.failed = failed.get();
        phase.requests = requests.get();
        return phase;
    }

    /** One client: a streaming generation at a time, the next one started when it ends, until stop. */
    private record Client(PolicyServiceGrpc.PolicyServiceStub stub, Random random, int maxNew, Phase phase, Swap swap,
            AtomicBoolean stop, AtomicLong failed, AtomicLong requests, java.util.concurrent.CountDownLatch stopped) {

        void next() {
            if (stop.get()) {
                stopped.countDown();
                return;
            }
            int[] prompt = new int[PROMPT];
            for (int i = 0; i < PROMPT; i++) {
                prompt[i] = 6 + random.nextInt(250);
            }
            GenerateRequest req = GenerateRequest.newBuilder()
                    .setPromptTokenIds(TokenSequence.newBuilder().addAllIds(Arrays.stream(prompt).boxed().toList()))
                    .setSampling(SamplingParams.newBuilder().setMaxNewTokens(maxNew).setTemperature(1f)
                            .setSeed(random.nextLong()))
                    .setSkipInteractionLog(true).build();
            long start = System.nanoTime();
            stub.withDeadlineAfter(60, TimeUnit.SECONDS).generateStream(req,
                    new io.grpc.stub.StreamObserver<GenerateStreamChunk>() {
                        boolean first = true;

                        @Override
                        public void onNext(GenerateStreamChunk chunk) {
                            if (first && chunk.getTokenIdsCount() > 0) {
                                phase.ttft.add(System.nanoTime() - start);
                                phase.promptTokens.addAndGet(PROMPT);
                                first = false;
                            }
                            phase.tokens.addAndGet(chunk.getTokenIdsCount());
                            if (swap != null && chunk.hasModel() && chunk.getModel().getVersion() == 2) {
                                swap.firstNewResponseNanos.compareAndSet(0, System.nanoTime());
                            }
                        }

                        @Override
                        public void onError(Throwable e) {
                            if (failed.incrementAndGet() == 1) {
                                System.err.println("first failure: " + e);
                            }
                            requests.incrementAndGet();
                            next();
                        }

                        @Override
                        public void onCompleted() {
                            requests.incrementAndGet();
                            next();
                        }
                    });
        }
    }

    /**
     * Writes and announces policy v2 (other weights) during a load phase, on a producer that
     * is already connected (as the trainer's is): the figure is the service's reaction time.
     */
    private static final class Swap implements AutoCloseable {
        final Path store;
        final ModelConfig c;
        final org.apache.kafka.clients.producer.KafkaProducer<String, byte[]> producer;
        final AtomicLong firstNewResponseNanos = new AtomicLong();
        long announcedNanos;

        Swap(Path store, ModelConfig c, String bootstrap) throws Exception {
            this.store = store;
            this.c = c;
            this.producer = ReliableProducers.create(bootstrap, "bench-announcer", java.time.Duration.ofSeconds(10));
            announce(1); // the served version again: a no-op for the service, and the producer is warm
        }

        void run() throws Exception {
            writeVersion(store, c, 2);
            announcedNanos = System.nanoTime();
            announce(2);
        }

        private void announce(long version) throws Exception {
            producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>("rlhf.models.v1", "policy",
                    ModelVersion.newBuilder().setName("policy").setVersion(version)
                            .setKind(dev.rlhf.proto.v1.ModelKind.MODEL_KIND_POLICY).build().toByteArray())).get();
        }

        @Override
        public void close() {
            producer.close();
        }
    }

    /** Stores a random-weight version of {@code c} as "policy"; returns the parameter count. */
    private static long writeVersion(Path store, ModelConfig c, long seed) throws Exception {
        Path dir = Files.createTempDirectory("policy-bench-version");
        DefaultTokenizer.write(dir.resolve("tokenizer.json"), List.of("benchmark"), 300);
        c.write(dir.resolve("config.json"));
        Map<String, Tensor> w = new LinkedHashMap<>();
        LlamaWeights.random(c, seed).forEach(t -> w.put(t.name(), t));
        SafeTensors.write(dir.resolve("model.safetensors"), new ArrayList<>(w.values()), Map.of());
        OnnxExport.write(c, w, DecoderGraph.Head.CAUSAL_LM, dir.resolve("model.onnx"), false);
        new ModelStore(store).write("policy", ModelKind.POLICY, 0, dir, Map.of());
        return w.values().stream().mapToLong(Tensor::numel).sum();
    }
}
