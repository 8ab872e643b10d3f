"""The wire contracts: the CloudEvents envelope and one typed model per event in the catalogue."""

from shared.contracts.catalogue import CATALOGUE, PLATFORM_EVENTS, EventType, changed_type
from shared.contracts.codec import InvalidMessage, Problem, decode_data, decode_envelope
from shared.contracts.envelope import CONTENT_TYPE, Envelope

__all__ = [
    "CATALOGUE",
    "CONTENT_TYPE",
    "PLATFORM_EVENTS",
    "Envelope",
    "EventType",
    "InvalidMessage",
    "Problem",
    "changed_type",
    "decode_data",
    "decode_envelope",
]
