package dev.rlhf.gateway;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/**
 * API keys, configured by their SHA-256 hash only ({@code rlhf.gateway.auth.keys} and/or
 * {@code rlhf.gateway.auth.keys-file}). A presented key is hashed and looked up; the key
 * itself is never stored or logged.
 */
@Startup
@ApplicationScoped
public class ApiKeys {

    /** Scope needed to submit feedback. */
    public static final String WRITE = "feedback.write";
    /** Scope for read-only clients (no read API yet; such a key is refused writes with 403). */
    public static final String READ = "feedback.read";

    private static final Set<String> SCOPES = Set.of(WRITE, READ);
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-fA-F]{64}");

    /** A configured key: its id (safe to log) and scopes. */
    public record ApiKey(String id, Set<String> scopes) {
        public boolean can(String scope) {
            return scopes.contains(scope);
        }
    }

    private final boolean enabled;
    private final Map<String, ApiKey> byHash;

    @Inject
    ApiKeys(GatewayConfig config) {
        this(config.auth().enabled(), config.auth().keys().orElse(List.of()), config.auth().keysFile().orElse(null));
    }

    ApiKeys(boolean enabled, List<String> keys, Path keysFile) {
        this.enabled = enabled;
        Map<String, ApiKey> map = new HashMap<>();
        for (int i = 0; i < keys.size(); i++) {
            add(map, keys.get(i), "rlhf.gateway.auth.keys[" + i + "]");
        }
        if (keysFile != null) {
            List<String> lines;
            try {
                lines = Files.readAllLines(keysFile, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException("rlhf.gateway.auth.keys-file: cannot read " + keysFile + ": " + e.getMessage(), e);
            }
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i).strip();
                if (!line.isEmpty() && !line.startsWith("#")) {
                    add(map, line, "rlhf.gateway.auth.keys-file " + keysFile + " line " + (i + 1));
                }
            }
        }
        this.byHash = Map.copyOf(map);
    }

    private static void add(Map<String, ApiKey> map, String entry, String where) {
        String[] parts = entry.strip().split(":");
        if (parts.length != 3) {
            throw new IllegalArgumentException(where + ": expected <id>:<sha256 hex>:<scope>[+<scope>], got "
                    + parts.length + " ':'-separated parts");
        }
        if (!ID.matcher(parts[0]).matches()) {
            throw new IllegalArgumentException(where + ": key id '" + parts[0] + "' must match " + ID.pattern());
        }
        if (!SHA256_HEX.matcher(parts[1]).matches()) {
            throw new IllegalArgumentException(where + ": the hash of key '" + parts[0]
                    + "' must be 64 hex digits (sha256sum of the key), not the key itself");
        }
        Set<String> scopes = Set.of(parts[2].split("\\+"));
        for (String s : scopes) {
            if (!SCOPES.contains(s)) {
                throw new IllegalArgumentException(where + ": unknown scope '" + s + "' of key '" + parts[0]
                        + "'; expected " + WRITE + " or " + READ);
            }
        }
        if (map.putIfAbsent(parts[1].toLowerCase(), new ApiKey(parts[0], scopes)) != null) {
            throw new IllegalArgumentException(where + ": the same key hash is configured twice");
        }
    }

    /** Whether keys are checked at all. */
    public boolean enabled() {
        return enabled;
    }

    /**
     * The key an {@code Authorization} header presents.
     *
     * @throws AuthException (401) when the header is missing, not a Bearer key, or unknown
     */
    public ApiKey authenticate(String authorization) {
        if (!enabled) {
            return new ApiKey("anonymous", SCOPES);
        }
        if (authorization == null || authorization.isBlank()) {
            throw new AuthException(false, "missing API key: send header 'Authorization: Bearer <key>'");
        }
        if (!authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw new AuthException(false, "the Authorization header must be 'Bearer <key>'");
        }
        ApiKey key = byHash.get(sha256Hex(authorization.substring(7).strip()));
        if (key == null) {
            throw new AuthException(false, "unknown API key");
        }
        return key;
    }

    /**
     * @throws AuthException (403) when {@code key} lacks {@code scope}
     */
    public static void require(ApiKey key, String scope) {
        if (!key.can(scope)) {
            throw new AuthException(true, "API key '" + key.id() + "' lacks scope " + scope);
        }
    }

    static String sha256Hex(String key) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Not authenticated (401) or not allowed (403). Not retryable with the same key. */
    public static final class AuthException extends RuntimeException {
        private final boolean forbidden;

        AuthException(boolean forbidden, String message) {
            super(message);
            this.forbidden = forbidden;
        }

        /** true: 403 / PERMISSION_DENIED; false: 401 / UNAUTHENTICATED. */
        public boolean forbidden() {
            return forbidden;
        }
    }
}
