"""aelab — joint image aesthetics + emotion prediction with multi-task CNNs, and tools to see what they learned."""

__version__ = "0.1.0"
