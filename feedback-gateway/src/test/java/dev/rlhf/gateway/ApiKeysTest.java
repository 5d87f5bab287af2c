package dev.rlhf.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ApiKeysTest {

    private static final String HASH = ApiKeys.sha256Hex("s3cret");

    @Test
    void authenticatesByHashAndChecksScopes() {
        ApiKeys keys = new ApiKeys(true, List.of("app:" + HASH + ":feedback.read"), null);
        ApiKeys.ApiKey key = keys.authenticate("Bearer s3cret");
        assertEquals("app", key.id());
        var e = assertThrows(ApiKeys.AuthException.class, () -> ApiKeys.require(key, ApiKeys.WRITE));
        assertTrue(e.forbidden());
        assertFalse(assertThrows(ApiKeys.AuthException.class, () -> keys.authenticate("Bearer nope")).forbidden());
        assertFalse(assertThrows(ApiKeys.AuthException.class, () -> keys.authenticate(null)).forbidden());
        assertFalse(assertThrows(ApiKeys.AuthException.class, () -> keys.authenticate("s3cret")).forbidden());
    }

    @Test
    void keysFileIsRead(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, "# labelers\nlabeler:" + HASH + ":feedback.write+feedback.read\n\n");
        ApiKeys keys = new ApiKeys(true, List.of(), file);
        ApiKeys.require(keys.authenticate("bearer s3cret"), ApiKeys.WRITE);
    }

    @Test
    void badEntriesFailNamingTheKey() {
        var e = assertThrows(IllegalArgumentException.class, () -> new ApiKeys(true, List.of("app:s3cret:feedback.write"), null));
        assertTrue(e.getMessage().startsWith("rlhf.gateway.auth.keys[0]"), e.getMessage());
        assertTrue(e.getMessage().contains("not the key itself"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ApiKeys(true, List.of("app:" + HASH + ":admin"), null));
        assertTrue(e.getMessage().contains("unknown scope 'admin'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ApiKeys(true, List.of("app:" + HASH), null));
        assertTrue(e.getMessage().contains("expected <id>:<sha256 hex>:<scope>"), e.getMessage());
    }
}
