package dev.rlhf.bench;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** What the benchmarks share: free ports and starting a packaged service until it is ready. */
final class BenchSupport {

    private BenchSupport() {
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * Starts a Quarkus fast-jar on {@code port} with extra JVM arguments (and those of
     * {@code RLHF_BENCH_SERVICE_OPTS}, e.g. a profiler) and waits for {@code /q/health/ready}.
     */
    static Process startJar(Path jar, Path log, int port, List<String> jvmArgs) throws Exception {
        if (!Files.exists(jar)) {
            throw new IllegalStateException(jar + " is missing; build with ./mvnw -DskipTests package");
        }
        Files.createDirectories(log.getParent());
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        String extra = System.getenv("RLHF_BENCH_SERVICE_OPTS");
        if (extra != null && !extra.isBlank()) {
            cmd.addAll(List.of(extra.trim().split("\\s+")));
        }
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-Dquarkus.http.port=" + port, "-Dquarkus.log.level=WARN", "-jar", jar.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest ready = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready")).build();
        long deadline = System.currentTimeMillis() + 120_000;
        while (System.currentTimeMillis() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException(jar.getFileName() + " exited; see " + log);
            }
            try {
                if (http.send(ready, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return p;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        p.destroyForcibly();
        throw new IllegalStateException(jar.getFileName() + " was not ready in 120 s; see " + log);
    }
}
