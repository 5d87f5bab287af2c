package dev.rlhf.gateway;

import java.util.ArrayList;
import java.util.List;

import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;

/** Fails start-up on a bad {@code rlhf.gateway.*} value, naming the key and the fix. */
@Startup
@ApplicationScoped
public class GatewayConfigCheck {

    GatewayConfigCheck(GatewayConfig config) {
        List<String> problems = problems(config);
        if (!problems.isEmpty()) {
            throw new IllegalStateException("invalid configuration: " + String.join("; ", problems));
        }
    }

    static List<String> problems(GatewayConfig c) {
        List<String> p = new ArrayList<>();
        if (c.topic().isBlank()) {
            p.add("rlhf.gateway.topic must name a topic");
        }
        if (c.maxTextBytes() < 1 || c.maxTextBytes() > 16 * 1024 * 1024) {
            p.add("rlhf.gateway.max-text-bytes must be in 1..16777216, got " + c.maxTextBytes());
        }
        if (c.maxBatchSize() < 1 || c.maxBatchSize() > 10_000) {
            p.add("rlhf.gateway.max-batch-size must be in 1..10000, got " + c.maxBatchSize());
        }
        if (c.maxBodyBytes() < 1024) {
            p.add("rlhf.gateway.max-body-bytes must be at least 1024, got " + c.maxBodyBytes());
        }
        if (c.maxLabels() < 0) {
            p.add("rlhf.gateway.max-labels must be >= 0, got " + c.maxLabels());
        }
        if (c.produceTimeout().toMillis() < 2000) {
            p.add("rlhf.gateway.produce-timeout must be at least 2s, got " + c.produceTimeout());
        }
        if (c.maxBlock().isNegative() || c.maxBlock().toMillis() > 10_000) {
            p.add("rlhf.gateway.max-block must be in 0..10s, got " + c.maxBlock());
        }
        if (c.linger().isNegative() || c.linger().toMillis() > 1000) {
            p.add("rlhf.gateway.linger must be in 0..1s, got " + c.linger());
        }
        if (!List.of("none", "gzip", "snappy", "lz4", "zstd").contains(c.compression())) {
            p.add("rlhf.gateway.compression must be none, gzip, snappy, lz4 or zstd, got '" + c.compression() + "'");
        }
        if (c.retryAfterSeconds() < 1) {
            p.add("rlhf.gateway.retry-after-seconds must be >= 1, got " + c.retryAfterSeconds());
        }
        if (c.idempotency().maxKeys() < 1) {
            p.add("rlhf.gateway.idempotency.max-keys must be >= 1, got " + c.idempotency().maxKeys());
        }
        if (c.idempotency().window().isNegative() || c.idempotency().window().isZero()) {
            p.add("rlhf.gateway.idempotency.window must be positive, got " + c.idempotency().window());
        }
        if (c.auth().enabled() && c.auth().keys().map(List::isEmpty).orElse(true) && c.auth().keysFile().isEmpty()) {
            p.add("rlhf.gateway.auth.keys or rlhf.gateway.auth.keys-file is required while rlhf.gateway.auth.enabled=true"
                    + " (bin/rlhf up makes a key; or set rlhf.gateway.auth.enabled=false for a closed network)");
        }
        return p;
    }
}
