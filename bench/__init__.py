"""Benchmarks of the lab stack (scripts/bench): throughput, latency, deploy and recovery time."""
