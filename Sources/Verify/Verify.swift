// Verify
