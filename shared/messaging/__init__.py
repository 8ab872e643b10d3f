"""Broker layer: topology, subscriptions, the consumer runtime, the outbox and the inbox."""
