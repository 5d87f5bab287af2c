package dev.rlhf.model;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

class LeasesTest {

    @Test
    void aLeasedOrBusyVersionIsNotClosedAndAClosingOneRefusesLeases() {
        Leases leases = new Leases();
        assertTrue(leases.acquire());
        assertFalse(leases.closeIfUnused(() -> true), "a lease is held");
        leases.release();
        assertFalse(leases.closeIfUnused(() -> false), "its work is not finished");
        assertTrue(leases.acquire(), "still open: it can be leased again");
        leases.release();
        assertTrue(leases.closeIfUnused(() -> true));
        assertFalse(leases.acquire(), "closing: callers must look up the successor");
    }

    @Test
    void retireClosesOnceTheLastLeaseIsReleased() throws Exception {
        Leases leases = new Leases();
        assertTrue(leases.acquire());
        CountDownLatch closed = new CountDownLatch(1);
        leases.retire("retire-test", () -> true, Duration.ofSeconds(30), closed::countDown);
        assertFalse(closed.await(300, TimeUnit.MILLISECONDS), "closed under a lease");
        leases.release();
        assertTrue(closed.await(5, TimeUnit.SECONDS));
        assertFalse(leases.acquire());
    }
}
