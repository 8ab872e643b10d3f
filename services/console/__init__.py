"""The console: one web page where operators and tenants see and fix their integration."""
