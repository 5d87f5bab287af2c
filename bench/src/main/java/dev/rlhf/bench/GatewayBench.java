package dev.rlhf.bench;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;

import com.google.protobuf.Timestamp;

import dev.rlhf.proto.v1.CandidateResponse;
import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.PairwiseChoice;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.ServiceJar;

/**
 * {@code bin/rlhf bench gateway}: the feedback-gateway's throughput and latency, each next to
 * a baseline measured in the same run against the same broker.
 *
 * <ol>
 * <li>batch endpoint (1,000 events a request) at concurrency 8 vs Kafka's own
 * {@code ProducerPerformance} with acks=all, the gateway's producer settings and the same
 * record size; target ratio ≥ 0.5;
 * <li>single-event endpoint at concurrency 32 vs a no-op endpoint of the same server (same
 * auth, no parsing, no Kafka): the HTTP ceiling; target ratio ≥ 0.5 and p99 ≤ 20 ms.
 * </ol>
 *
 * The load generator is a minimal keep-alive HTTP/1.1 client over plain sockets (one per
 * worker thread), so that the client's own cost stays small next to the server's. Client,
 * gateway and broker share the machine's cores, as they would on one node.
 */
public final class GatewayBench {

    private static final String KEY = "bench-" + UUID.randomUUID();

    public static void main(String[] args) throws Exception {
        Map<String, Integer> opt = new java.util.HashMap<>(Map.of("seconds", 15, "warmup", 15, "batch-concurrency", 8,
                "single-concurrency", 32, "batch-size", 1000, "text-chars", 200,
                // the gateway's linger.ms (rlhf.gateway.linger), given to the baseline too
                "linger-ms", 2,
                // 1: lz4 (rlhf.gateway.compression default), 0: none; for gateway and baseline alike
                "lz4", 1));
        for (int i = 0; i + 1 < args.length; i += 2) {
            String name = args[i].replaceFirst("^--", "");
            if (!opt.containsKey(name)) {
                throw new IllegalArgumentException("unknown option " + args[i] + "; known: " + opt.keySet());
            }
            opt.put(name, Integer.parseInt(args[i + 1]));
        }
        new GatewayBench().run(opt);
    }

    private void run(Map<String, Integer> opt) throws Exception {
        Path root = Path.of(System.getProperty("rlhf.root", "."));
        KafkaTestBroker broker = KafkaTestBroker.shared();
        String bootstrap = broker.bootstrapServers();
        String suffix = Long.toString(System.currentTimeMillis());
        String gatewayTopic = "rlhf.bench.gateway." + suffix;
        String rawTopic = "rlhf.bench.raw." + suffix;
        createTopics(bootstrap, gatewayTopic, rawTopic);

        String event = eventJson(opt.get("text-chars"));
        int recordSize = storedRecordSize(opt.get("text-chars"));
        int port = ServiceJar.freePort();
        String compression = opt.get("lz4") == 1 ? "lz4" : "none";
        Process gateway = startGateway(root, port, bootstrap, gatewayTopic, opt.get("linger-ms"), compression);
        try {
            System.out.printf("gateway bench: broker %s, gateway on port %d, record %d bytes (protobuf), linger.ms %d,"
                    + " compression %s, %d s per phase%n", bootstrap, port, recordSize, opt.get("linger-ms"), compression,
                    opt.get("seconds"));
            // 1. batch endpoint at concurrency 8
            int batchSize = opt.get("batch-size");
            List<String> events = new ArrayList<>(batchSize);
            for (int i = 0; i < batchSize; i++) {
                events.add(variant(event, i));
            }
            String batch = "{\"events\":[" + String.join(",", events) + "]}";
            byte[] batchRequest = request(port, "/v1/feedback/batch", batch);
            long gw = gateway.pid();
            java.util.function.Supplier<Cpu> cpu = () -> Cpu.of(gw, broker.pid());
            Load batchLoad = load(port, w -> batchRequest, opt.get("batch-concurrency"), opt.get("warmup"),
                    opt.get("seconds"), cpu);
            double gatewayEvents = batchLoad.ok * (double) batchSize / batchLoad.seconds;
            // 2. raw Kafka, same record size and producer settings
            long rawRecords = Math.max(100_000, (long) (gatewayEvents * opt.get("seconds")));
            double rawEvents = producerPerformance(root, bootstrap, rawTopic, rawRecords, recordSize, opt.get("linger-ms"),
                    compression);
            // 3. single events at concurrency 32, and 4. the no-op ceiling
            int c = opt.get("single-concurrency");
            double[] timer0 = produceTimer(port);
            Load single = load(port, w -> request(port, "/v1/feedback", variant(event, w)), c, opt.get("warmup"),
                    opt.get("seconds"), cpu);
            double[] timer1 = produceTimer(port);
            Load noop = load(port, w -> request(port, "/v1/bench/noop", variant(event, w)), c, opt.get("warmup"),
                    opt.get("seconds"), cpu);

            System.out.println();
            System.out.println("| measurement | figure | baseline (same run) | ratio | target |");
            System.out.println("|---|---|---|---|---|");
            System.out.printf("| batch endpoint, %d events/request, concurrency %d | %,.0f events/s (%d requests, %d failed) "
                    + "| ProducerPerformance acks=all: %,.0f records/s | %.2f | ≥ 0.5 |%n", batchSize,
                    opt.get("batch-concurrency"), gatewayEvents, batchLoad.ok, batchLoad.failed, rawEvents,
                    gatewayEvents / rawEvents);
            System.out.printf("| single-event endpoint, concurrency %d | %,.0f events/s, p50 %.2f ms, p99 %.2f ms (%d failed) "
                    + "| no-op endpoint: %,.0f req/s, p50 %.2f ms, p99 %.2f ms | %.2f | ≥ 0.5, p99 ≤ 20 ms |%n", c,
                    single.rate(), single.p(50), single.p(99), single.failed, noop.rate(), noop.p(50), noop.p(99),
                    single.rate() / noop.rate());
            System.out.printf("%nwhere the time goes (%d cores on this machine):%n", Runtime.getRuntime().availableProcessors());
            System.out.printf("- batch phase: %s; batch request latency p50 %.1f ms, p99 %.1f ms%n", batchLoad.cpu,
                    batchLoad.p(50), batchLoad.p(99));
            System.out.printf("- single phase: %s; mean send→ack inside the gateway %.2f ms of a mean request %.2f ms"
                    + " (send→ack includes the warmup)%n", single.cpu, (timer1[0] - timer0[0]) / (timer1[1] - timer0[1]) * 1e3,
                    single.mean());
            System.out.printf("- no-op phase: %s%n", noop.cpu);
        } finally {
            gateway.destroy();
            gateway.waitFor(20, TimeUnit.SECONDS);
            deleteTopics(bootstrap, gatewayTopic, rawTopic);
        }
    }

    /** A pairwise comparison as a labeling tool sends it; {@code textChars} per response. */
    private static String eventJson(int textChars) {
        String a = "A".repeat(textChars);
        String b = "B".repeat(textChars);
        return "{\"type\":\"pairwise\",\"user_id\":\"annotator-17\",\"source\":\"bench\",\"pairwise\":{\"prompt\":"
                + "\"Explain what a reward model is in two sentences.\",\"responses\":[{\"response_id\":\"a\",\"text\":\""
                + a + "\"},{\"response_id\":\"b\",\"text\":\"" + b + "\"}],\"chosen_response_id\":\"a\",\"strength\":2}}";
    }

    /** {@code event} about a distinct prompt: feedback on different prompts spreads over partitions. */
    private static String variant(String event, int i) {
        return event.replace("two sentences.", "two sentences (" + i + ").");
    }

    /** Size of the record the gateway writes for {@link #eventJson}: the baseline's record size. */
    private static int storedRecordSize(int textChars) {
        Timestamp now = Timestamp.newBuilder().setSeconds(System.currentTimeMillis() / 1000).setNanos(123_456_789).build();
        return FeedbackEvent.newBuilder().setEventId(UUID.randomUUID().toString()).setUserId("annotator-17")
                .setSource("bench").setSubmittedBy("bench").setCreatedAt(now).setReceivedAt(now)
                .setPairwise(PairwiseChoice.newBuilder().setPrompt("Explain what a reward model is in two sentences.")
                        .addResponses(CandidateResponse.newBuilder().setResponseId("a").setText("A".repeat(textChars)))
                        .addResponses(CandidateResponse.newBuilder().setResponseId("b").setText("B".repeat(textChars)))
                        .setChosenResponseId("a").setStrength(2))
                .build().getSerializedSize();
    }

    private static Process startGateway(Path root, int port, String bootstrap, String topic, int lingerMs,
            String compression) throws Exception {
        String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(KEY.getBytes(StandardCharsets.UTF_8)));
        return ServiceJar.start(root.resolve("feedback-gateway/target/quarkus-app/quarkus-run.jar"),
                root.resolve(".rlhf/logs/bench-gateway.log"), port, List.of("-Xmx512m", "-Dquarkus.log.level=WARN",
                        "-Dkafka.bootstrap.servers=" + bootstrap, "-Drlhf.gateway.topic=" + topic,
                        "-Drlhf.gateway.bench.noop-enabled=true", "-Drlhf.gateway.linger=" + lingerMs + "ms",
                        "-Drlhf.gateway.compression=" + compression,
                        "-Drlhf.gateway.auth.keys=bench:" + hash + ":feedback.write"));
    }

    private static byte[] request(int port, String path, String body) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        String head = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nAuthorization: Bearer " + KEY
                + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n";
        byte[] h = head.getBytes(StandardCharsets.US_ASCII);
        byte[] out = Arrays.copyOf(h, h.length + b.length);
        System.arraycopy(b, 0, out, h.length, b.length);
        return out;
    }

    /** CPU seconds used so far by the processes under test (-1 when unknown), to say where the time goes. */
    private record Cpu(double gateway, double broker, double client) {
        static Cpu of(long gatewayPid, java.util.OptionalLong brokerPid) {
            return new Cpu(cpuSeconds(gatewayPid), brokerPid.isPresent() ? cpuSeconds(brokerPid.getAsLong()) : -1,
                    cpuSeconds(ProcessHandle.current().pid()));
        }

        String since(Cpu before, double seconds) {
            return String.format("CPU cores used: gateway %.2f, broker %s, load client %.2f", (gateway - before.gateway) / seconds,
                    broker < 0 ? "?" : String.format("%.2f", (broker - before.broker) / seconds),
                    (client - before.client) / seconds);
        }
    }

    /** utime + stime of a process from /proc, in seconds. */
    private static double cpuSeconds(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // fields 14, 15; USER_HZ = 100
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Sum and count of the gateway's send→acknowledgement timer, from /q/metrics. */
    private static double[] produceTimer(int port) {
        try (Socket s = new Socket("127.0.0.1", port)) {
            Response r = exchange(s.getOutputStream(), new BufferedInputStream(s.getInputStream()),
                    "GET /q/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            double sum = 0;
            double count = 0;
            for (String line : new String(r.body, StandardCharsets.UTF_8).split("\n")) {
                if (line.startsWith("rlhf_feedback_produce_seconds_sum")) {
                    sum = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                } else if (line.startsWith("rlhf_feedback_produce_seconds_count")) {
                    count = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
            return new double[] {sum, count};
        } catch (IOException | RuntimeException e) {
            return new double[] {Double.NaN, Double.NaN};
        }
    }

    /** Results of one closed-loop load phase. */
    private record Load(long ok, long failed, double seconds, long[] latencyNanos, String cpu) {
        double rate() {
            return ok / seconds;
        }

        double mean() {
            return Arrays.stream(latencyNanos).average().orElse(Double.NaN) / 1e6;
        }

        double p(double percentile) {
            if (latencyNanos.length == 0) {
                return Double.NaN;
            }
            int i = (int) Math.min(latencyNanos.length - 1, Math.ceil(percentile / 100 * latencyNanos.length) - 1);
            return latencyNanos[Math.max(0, i)] / 1e6;
        }
    }

    /** {@code concurrency} workers, each sending its request back to back on its own connection. */
    private static Load load(int port, java.util.function.IntFunction<byte[]> requestOfWorker, int concurrency,
            int warmupSeconds, int seconds, java.util.function.Supplier<Cpu> cpu) throws InterruptedException {
        long start = System.nanoTime();
        long measureFrom = start + TimeUnit.SECONDS.toNanos(warmupSeconds);
        long end = measureFrom + TimeUnit.SECONDS.toNanos(seconds);
        long[][] latencies = new long[concurrency][];
        long[] ok = new long[concurrency];
        long[] failed = new long[concurrency];
        List<Thread> workers = new ArrayList<>();
        for (int w = 0; w < concurrency; w++) {
            int id = w;
            byte[] request = requestOfWorker.apply(w);
            Thread t = new Thread(() -> {
                long[] lat = new long[1024];
                int n = 0;
                try (Socket s = new Socket("127.0.0.1", port)) {
                    s.setTcpNoDelay(true);
                    OutputStream out = s.getOutputStream();
                    InputStream in = new BufferedInputStream(s.getInputStream(), 64 * 1024);
                    while (true) {
                        long t0 = System.nanoTime();
                        if (t0 >= end) {
                            break;
                        }
                        Response r = exchange(out, in, request);
                        long t1 = System.nanoTime();
                        if (t0 >= measureFrom) {
                            if (r.status == 202) {
                                ok[id]++;
                                if (n == lat.length) {
                                    lat = Arrays.copyOf(lat, n * 2);
                                }
                                lat[n++] = t1 - t0;
                            } else {
                                failed[id]++;
                            }
                        }
                    }
                } catch (IOException e) {
                    System.err.println("worker " + id + ": " + e);
                }
                latencies[id] = Arrays.copyOf(lat, n);
            }, "load-" + w);
            workers.add(t);
            t.start();
        }
        // CPU of the measured window only (after the warmup: the JIT needs ~15 s on 2 cores)
        Thread.sleep(Math.max(0, (measureFrom - System.nanoTime()) / 1_000_000));
        Cpu atStart = cpu.get();
        for (Thread t : workers) {
            t.join();
        }
        String cpuUse = cpu.get().since(atStart, seconds);
        long[] all = Arrays.stream(latencies).flatMapToLong(Arrays::stream).sorted().toArray();
        return new Load(Arrays.stream(ok).sum(), Arrays.stream(failed).sum(), seconds, all, cpuUse);
    }

    private record Response(int status, byte[] body) {
    }

    /** One HTTP/1.1 request and its response (Content-Length or chunked) on a kept-alive connection. */
    private static Response exchange(OutputStream out, InputStream in, byte[] request) throws IOException {
        out.write(request);
        out.flush();
        String status = line(in);
        if (status == null) {
            throw new IOException("connection closed by the server");
        }
        int code = Integer.parseInt(status.substring(9, 12));
        int length = -1;
        boolean chunked = false;
        for (String h = line(in); h != null && !h.isEmpty(); h = line(in)) {
            String lower = h.toLowerCase();
            if (lower.startsWith("content-length:")) {
                length = Integer.parseInt(h.substring(15).trim());
            } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
                chunked = true;
            }
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        if (chunked) {
            for (int size = Integer.parseInt(line(in).trim(), 16); size > 0; size = Integer.parseInt(line(in).trim(), 16)) {
                body.write(in.readNBytes(size));
                line(in);
            }
            line(in);
        } else if (length > 0) {
            body.write(in.readNBytes(length));
        }
        return new Response(code, body.toByteArray());
    }

    private static String line(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int c = in.read(); c != -1; c = in.read()) {
            if (c == '\n') {
                int len = sb.length();
                return len > 0 && sb.charAt(len - 1) == '\r' ? sb.substring(0, len - 1) : sb.toString();
            }
            sb.append((char) c);
        }
        return sb.isEmpty() ? null : sb.toString();
    }

    /** Kafka's own producer benchmark with the gateway's producer settings; records/s. */
    private static double producerPerformance(Path root, String bootstrap, String topic, long records, int recordSize,
            long linger, String compression) throws Exception {
        String cp = root.resolve("kafka-broker/target/lib") + "/*";
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m",
                "-cp", cp, "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                "--num-records", Long.toString(records), "--record-size", Integer.toString(recordSize),
                "--throughput", "-1", "--producer-props", "bootstrap.servers=" + bootstrap, "acks=all",
                "enable.idempotence=true", "linger.ms=" + linger, "batch.size=262144", "compression.type=" + compression);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IllegalStateException("ProducerPerformance failed:\n" + out);
        }
        // the summary line: "N records sent, X records/sec (Y MB/sec), ..."
        Matcher m = Pattern.compile("(\\d+) records sent, ([\\d.]+) records/sec").matcher(out);
        double rate = -1;
        while (m.find()) {
            rate = Double.parseDouble(m.group(2));
        }
        if (rate < 0) {
            throw new IllegalStateException("no summary in ProducerPerformance output:\n" + out);
        }
        return rate;
    }

    private static void createTopics(String bootstrap, String... topics) throws Exception {
        try (Admin admin = Admin.create(adminProps(bootstrap))) {
            admin.createTopics(Arrays.stream(topics).map(t -> new NewTopic(t, 6, (short) 1)).toList()).all()
                    .get(30, TimeUnit.SECONDS);
        }
    }

    private static void deleteTopics(String bootstrap, String... topics) {
        try (Admin admin = Admin.create(adminProps(bootstrap))) {
            admin.deleteTopics(List.of(topics)).all().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            System.err.println("could not delete the bench topics " + List.of(topics) + ": " + e);
        }
    }

    private static Properties adminProps(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return p;
    }

}
