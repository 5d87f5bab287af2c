package dev.rlhf.kafka.support;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.UUID;

import org.junit.jupiter.api.Test;

class UuidsTest {

    @Test
    void matchesTheRfcExample() {
        UUID dns = UUID.fromString("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
        assertEquals("2ed6657d-e927-568b-95e1-2665a8aea6a2", Uuids.v5(dns, "www.example.com").toString());
    }

    @Test
    void theProjectNamespacesAreThoseTheContractsName() {
        // events.proto: the preference namespace is UUIDv5(URL, "urn:rlhf:v1:preference")
        assertEquals("3355fe18-fb8c-5808-a071-61adffc42f85", Uuids.v5(Uuids.NAMESPACE_URL, "urn:rlhf:v1:preference").toString());
    }
}
