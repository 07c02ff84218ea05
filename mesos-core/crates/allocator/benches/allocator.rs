//! `cargo bench -p mesos-allocator --bench allocator` (env `AGENTS`, `FRAMEWORKS`,
//! `ROUNDS`, `W1_GRID`, `W1_ONLY`, `W1_CLOCK`): the W1 workloads of `mesos_allocator::bench`
//! (DeclineOffers, ResourceLabels, SuppressOffers, ExtremeSuppressOffers,
//! LargeAndSmallQuota).

fn main() {
    mesos_allocator::bench::main_from_env();
}
