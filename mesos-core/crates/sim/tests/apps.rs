//! The Marathon-style apps framework on a small cluster: every instance placed and
//! running, constraints held, launch batches written before their ACCEPTs.

use mesos_sim::{AppSpec, AppsConfig, Constraint, Faults, LaunchLog, LaunchRecord, Sim, SimConfig};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Clone, Default)]
struct MemLog(Rc<RefCell<Vec<usize>>>);

impl LaunchLog for MemLog {
    fn commit(&mut self, batch: &[LaunchRecord]) -> Result<(), String> {
        self.0.borrow_mut().push(batch.len());
        Ok(())
    }
    fn describe(&self) -> String {
        format!("{} batches", self.0.borrow().len())
    }
}

fn attributes(i: usize) -> String {
    format!("rack:r{};class:c{}", i % 3, i % 2)
}

fn run(per_offer: u32, app_executor: bool) {
    let mut cfg = SimConfig::small(Faults {
        task_end: 0.0,
        ..Faults::none()
    });
    cfg.agents = 8;
    cfg.frameworks = 0;
    cfg.agent_resources = "cpus:2;mem:2048".into();
    cfg.agent_attributes = Some(attributes);
    cfg.properties = false;
    cfg.duration = 1e9;
    let mut sim = Sim::new(7, cfg);
    let log = MemLog::default();
    let fw = sim.add_apps_framework(
        AppsConfig {
            per_offer,
            app_executor,
            ..AppsConfig::default()
        },
        Some(Box::new(log.clone())),
    );
    sim.run_until(5.0);
    assert!(sim.subscribed(fw));
    assert_eq!(sim.active_agents(), 8);
    let app = |id: &str, instances, constraint| AppSpec {
        id: id.into(),
        instances,
        cpus: 0.1,
        mem: 32.0,
        constraint,
    };
    sim.submit_apps(
        fw,
        vec![
            app("unique", 8, Constraint::UniqueHostname),
            app(
                "cluster",
                20,
                Constraint::Cluster {
                    attr: "class".into(),
                    value: "c1".into(),
                },
            ),
            app(
                "like",
                15,
                Constraint::Like {
                    attr: "rack".into(),
                    prefix: "r2".into(),
                },
            ),
            app("free", 40, Constraint::None),
        ],
    );
    sim.run_until(120.0);
    let p = sim.apps_progress(fw);
    assert_eq!(p.submitted, 83);
    assert_eq!(p.running, 83, "{p:?}");
    assert!(p.suppressed, "nothing waits: offers are suppressed");
    let check = sim.check_placement(fw).expect("placement checks");
    assert_eq!(check.master_running, 83);
    assert_eq!(check.executors_running, 83);
    let batches = log.0.borrow();
    assert_eq!(batches.iter().sum::<usize>(), 83);
    if per_offer > 0 {
        assert!(batches.len() > 1, "the cap spreads launches over rounds");
    }
}

#[test]
fn apps_place_everything_with_command_executors() {
    run(0, false);
}

#[test]
fn apps_place_everything_per_offer_cap_and_app_executors() {
    run(3, true);
}
