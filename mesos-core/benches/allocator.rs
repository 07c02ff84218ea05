//! `cargo bench -p mesos-core --bench allocator` (env `AGENTS`, `FRAMEWORKS`, `ROUNDS`):
//! Mesos' DeclineOffers allocator workload (performance-anchors W1), printed in Mesos'
//! line format. The workload itself lives in `mesos_allocator::bench`.

fn main() {
    mesos_allocator::bench::main_from_env();
}
