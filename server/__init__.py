"""declutter's gRPC server: settings, the servicer and the process entry point."""
