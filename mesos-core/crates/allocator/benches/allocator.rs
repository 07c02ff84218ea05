//! `cargo bench -p mesos-allocator --bench allocator` (env `AGENTS`, `FRAMEWORKS`,
//! `ROUNDS`): Mesos' DeclineOffers workload (W1).

fn main() {
    mesos_allocator::bench::main_from_env();
}
