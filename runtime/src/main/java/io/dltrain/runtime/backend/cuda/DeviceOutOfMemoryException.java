package io.dltrain.runtime.backend.cuda;

/**
 * The device ran out of memory even after the allocator returned its whole cache to the driver. The message says
 * what was asked, what is in use and reserved, what the device has free, and what to do.
 */
public final class DeviceOutOfMemoryException extends RuntimeException {
    public DeviceOutOfMemoryException(String message) { super(message); }
}
