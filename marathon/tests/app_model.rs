//! AppDefinition parsing/normalisation/output and validation (spec A3, A4, A10, C2, C3).

use marathon::app::{canonical_id, AppDefinition, NetworkMode, ParseError, UnreachableStrategy};
use marathon::validation::{error_body, validate, Violation, CMD_ARGS_CONTAINER};
use serde_json::{json, Value};

fn parse(v: Value) -> AppDefinition {
    AppDefinition::from_value(v).expect("parses")
}

fn out(app: &AppDefinition) -> serde_json::Map<String, Value> {
    match serde_json::to_value(app).unwrap() {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn errors_for(app: &AppDefinition) -> Vec<Violation> {
    validate(app).expect_err("should be invalid")
}

fn has(v: &[Violation], path: &str, msg: &str) -> bool {
    v.iter()
        .any(|x| x.path == path && x.errors.iter().any(|e| e.contains(msg)))
}

/// The complex app that marathon-python's itest sends (1.4 networking; spec C2).
fn legacy_complex() -> Value {
    json!({"backoffFactor":2,"backoffSeconds":1,"cmd":"/bin/true","cpus":0.25,"id":"test-complex-app","instances":1,"mem":30,
     "uris":["file:///root/.dockercfg"],
     "container":{"type":"DOCKER","volumes":[{"containerPath":"/etc/stuff","hostPath":"/etc/stuff","mode":"RO"}],
       "docker":{"image":"localhost/fake_docker_url","network":"BRIDGE","forcePullImage":false,"privileged":false,
         "parameters":[{"key":"add-host","value":"google-public-dns-a.google.com:8.8.8.8"}],
         "portMappings":[{"containerPort":8888,"hostPort":0,"name":"myport","protocol":"tcp"}]}},
     "healthChecks":[{"gracePeriodSeconds":3,"intervalSeconds":10,"maxConsecutiveFailures":3,"path":"/health",
       "portIndex":0,"protocol":"HTTP","timeoutSeconds":10}]})
}

/// The same app in the 1.5+ form.
fn modern_complex() -> Value {
    json!({"backoffFactor":2,"backoffSeconds":1,"cmd":"/bin/true","cpus":0.25,"id":"/test-complex-app","instances":1,"mem":30,
     "fetch":[{"uri":"file:///root/.dockercfg","extract":false}],
     "networks":[{"mode":"container/bridge"}],
     "container":{"type":"DOCKER","volumes":[{"containerPath":"/etc/stuff","hostPath":"/etc/stuff","mode":"RO"}],
       "docker":{"image":"localhost/fake_docker_url","forcePullImage":false,"privileged":false,
         "parameters":[{"key":"add-host","value":"google-public-dns-a.google.com:8.8.8.8"}]},
       "portMappings":[{"containerPort":8888,"hostPort":0,"name":"myport","protocol":"tcp"}]},
     "healthChecks":[{"gracePeriodSeconds":3,"intervalSeconds":10,"maxConsecutiveFailures":3,"path":"/health",
       "portIndex":0,"protocol":"HTTP","timeoutSeconds":10}]})
}

#[test]
fn legacy_and_modern_forms_normalise_to_the_same_model() {
    let a = parse(legacy_complex());
    let b = parse(modern_complex());
    assert_eq!(a, b);
    assert_eq!(a.id, "/test-complex-app");
    assert_eq!(a.networks.len(), 1);
    assert_eq!(a.networks[0].mode, NetworkMode::ContainerBridge);
    assert_eq!(a.port_definitions, None);
    let pms = a
        .container
        .as_ref()
        .unwrap()
        .port_mappings
        .as_ref()
        .unwrap();
    assert_eq!(pms.len(), 1);
    assert_eq!(pms[0].container_port, 8888);
    assert_eq!(pms[0].host_port, Some(0));
    assert_eq!(a.fetch[0].uri, "file:///root/.dockercfg");
    assert!(!a.fetch[0].extract);
    assert_eq!(validate(&a), Ok(()));
}

#[test]
fn deserialize_impl_uses_normalisation() {
    let a: AppDefinition = serde_json::from_value(legacy_complex()).unwrap();
    assert_eq!(a, parse(modern_complex()));
    // and a conflict surfaces as a serde error
    let bad = json!({"id":"x","cmd":"c","ports":[1],"portDefinitions":[{"port":2}]});
    assert!(serde_json::from_value::<AppDefinition>(bad).is_err());
}

#[test]
fn legacy_ports_and_host_network() {
    let a = parse(json!({"id":"a","cmd":"c","ports":[0, 8080],
        "container":{"docker":{"image":"nginx","network":"HOST"}}}));
    let b = parse(json!({"id":"/a","cmd":"c","networks":[{"mode":"host"}],
        "portDefinitions":[{"port":0},{"port":8080,"protocol":"tcp"}],
        "container":{"type":"DOCKER","docker":{"image":"nginx"}}}));
    assert_eq!(a, b);
    let o = out(&a);
    assert_eq!(
        o["portDefinitions"],
        json!([{"port":0,"protocol":"tcp"},{"port":8080,"protocol":"tcp"}])
    );
    assert!(!o["container"]
        .as_object()
        .unwrap()
        .contains_key("portMappings"));
}

#[test]
fn legacy_ip_address_user_network() {
    let a = parse(json!({"id":"u","cmd":"c",
        "ipAddress":{"networkName":"dcos","discovery":{"ports":[{"number":80,"name":"http","protocol":"tcp"}]}},
        "container":{"type":"DOCKER","docker":{"image":"nginx","network":"USER"}}}));
    let b = parse(
        json!({"id":"u","cmd":"c","networks":[{"mode":"container","name":"dcos"}],
        "container":{"docker":{"image":"nginx"},"portMappings":[{"containerPort":80,"name":"http"}]}}),
    );
    assert_eq!(a, b);
    let o = out(&a);
    assert_eq!(o["networks"], json!([{"mode":"container","name":"dcos"}]));
    assert_eq!(
        o["container"]["portMappings"],
        json!([{"containerPort":80,"servicePort":0,"protocol":"tcp","name":"http"}])
    );
    assert!(!o.contains_key("ipAddress"));
}

#[test]
fn legacy_uris_extract_archives_only() {
    let a = parse(json!({"id":"a","cmd":"c","uris":["http://x/a.tar.gz","http://x/b.sh"]}));
    assert!(a.fetch[0].extract);
    assert!(!a.fetch[1].extract);
}

#[test]
fn output_has_defaults_in_spec_order() {
    let a = parse(
        json!({"cmd":"sleep 3600","cpus":0.1,"id":"test-trivial-app","instances":5,"mem":16}),
    );
    assert_eq!(validate(&a), Ok(()));
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(
        v,
        json!({"id":"/test-trivial-app","backoffFactor":1.15,"backoffSeconds":1,"cmd":"sleep 3600",
            "cpus":0.1,"disk":0,"executor":"","gpus":0,"instances":5,"labels":{},
            "maxLaunchDelaySeconds":300,"mem":16,"networks":[{"mode":"host"}],
            "portDefinitions":[{"port":0,"protocol":"tcp","name":"default"}],"requirePorts":false,
            "upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":1},
            "unreachableStrategy":{"inactiveAfterSeconds":0,"expungeAfterSeconds":0},
            "killSelection":"YOUNGEST_FIRST"})
    );
    // field order as in A4
    let text = serde_json::to_string(&a).unwrap();
    let order = [
        "\"id\"",
        "\"backoffFactor\"",
        "\"backoffSeconds\"",
        "\"cmd\"",
        "\"cpus\"",
        "\"disk\"",
        "\"executor\"",
        "\"gpus\"",
        "\"instances\"",
        "\"labels\"",
        "\"maxLaunchDelaySeconds\"",
        "\"mem\"",
        "\"networks\"",
        "\"portDefinitions\"",
        "\"requirePorts\"",
        "\"upgradeStrategy\"",
        "\"unreachableStrategy\"",
        "\"killSelection\"",
    ];
    let pos: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
    // defaults when nothing given at all
    let d = parse(json!({"id":"d","cmd":"c"}));
    assert_eq!((d.cpus, d.mem, d.disk, d.instances), (1.0, 128.0, 0.0, 1));
}

/// Every key the server may emit must be in marathon-python 0.13.0's App allow-list (C3).
#[test]
fn output_never_has_forbidden_or_deprecated_fields() {
    const ALLOWED: &[&str] = &[
        "acceptedResourceRoles",
        "args",
        "backoffFactor",
        "backoffSeconds",
        "cmd",
        "constraints",
        "container",
        "cpus",
        "dependencies",
        "deployments",
        "disk",
        "env",
        "executor",
        "healthChecks",
        "id",
        "role",
        "instances",
        "killSelection",
        "labels",
        "lastTaskFailure",
        "maxLaunchDelaySeconds",
        "mem",
        "ports",
        "requirePorts",
        "storeUrls",
        "taskRateLimit",
        "tasks",
        "tasksRunning",
        "tasksStaged",
        "tasksHealthy",
        "taskKillGracePeriodSeconds",
        "tasksUnhealthy",
        "upgradeStrategy",
        "unreachableStrategy",
        "uris",
        "user",
        "version",
        "versionInfo",
        "ipAddress",
        "fetch",
        "taskStats",
        "readinessChecks",
        "readinessCheckResults",
        "secrets",
        "portDefinitions",
        "residency",
        "gpus",
        "networks",
    ];
    let mut input = legacy_complex();
    let extra = json!({"tasksStats":{}, "role":"foo", "enforceRole":true, "tty":true, "check":{},
        "executorResources":{}, "resourceLimits":{}, "storeUrls":["x"], "residency":{},
        "env":{"A":"1","S":{"secret":"s"}}, "labels":{"k":"v"}, "constraints":[["hostname","UNIQUE"]],
        "user":"nobody","taskKillGracePeriodSeconds":5, "acceptedResourceRoles":["*"],
        "secrets":{"s":{"source":"/x"}},"dependencies":["/other"],
        "version":"2020-07-01T10:00:00.000Z",
        "versionInfo":{"lastScalingAt":"2020-07-01T10:00:00.000Z","lastConfigChangeAt":"2020-07-01T10:00:00.000Z"}});
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    input["container"]["docker"]["portMappings"][0]["networkNames"] = json!(["n"]);
    input["container"]["linuxInfo"] = json!({});
    let a = parse(input);
    let o = out(&a);
    for k in o.keys() {
        assert!(ALLOWED.contains(&k.as_str()), "unexpected key {k}");
    }
    for k in [
        "tasksStats",
        "role",
        "enforceRole",
        "ports",
        "uris",
        "ipAddress",
        "storeUrls",
        "residency",
        "tty",
    ] {
        assert!(!o.contains_key(k), "{k} emitted");
    }
    let c = o["container"].as_object().unwrap();
    let mut ck: Vec<&str> = c.keys().map(String::as_str).collect();
    ck.sort();
    assert_eq!(ck, ["docker", "portMappings", "type", "volumes"]);
    assert!(!c["docker"].as_object().unwrap().contains_key("network"));
    assert!(!c["docker"]
        .as_object()
        .unwrap()
        .contains_key("portMappings"));
    for pm in c["portMappings"].as_array().unwrap() {
        assert!(!pm.as_object().unwrap().contains_key("networkNames"));
    }
    assert_eq!(o["env"], json!({"A":"1","S":{"secret":"s"}}));
    // residency makes the app resident: resident defaults apply
    assert_eq!(
        o["upgradeStrategy"],
        json!({"minimumHealthCapacity":0.5,"maximumOverCapacity":0})
    );
    assert_eq!(o["unreachableStrategy"], json!("disabled"));
}

#[test]
fn round_trip_of_output_is_stable() {
    let a = parse(legacy_complex());
    let again: AppDefinition = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
    assert_eq!(a, again);
}

#[test]
fn ids_are_canonicalised() {
    assert_eq!(canonical_id("foo"), "/foo");
    assert_eq!(canonical_id("/foo//bar/"), "/foo/bar");
    assert_eq!(canonical_id("a/./b/../c"), "/a/c");
    assert_eq!(parse(json!({"id":"prod/web","cmd":"c"})).id, "/prod/web");
}

#[test]
fn id_rules() {
    let ok = ["/a", "/a-b/c.d", "/prod/web/api", "/0", "/a1.b2-c"];
    for id in ok {
        let app = parse(json!({"id":id,"cmd":"c"}));
        assert_eq!(validate(&app), Ok(()), "{id}");
    }
    for id in ["/My-App", "/a_b", "/-a", "/a-", "/a..b", "/a.", "/a b"] {
        let v = errors_for(&parse(json!({"id":id,"cmd":"c"})));
        assert!(
            has(&v, "/id", "must fully match regular expression"),
            "{id}: {v:?}"
        );
    }
    for id in ["/x/restart", "/tasks", "/a/versions"] {
        let v = errors_for(&parse(json!({"id":id,"cmd":"c"})));
        assert!(
            has(
                &v,
                "/id",
                "must not end with any of the following reserved keywords"
            ),
            "{id}"
        );
    }
    let v = errors_for(&parse(json!({"cmd":"c"})));
    assert!(has(&v, "/id", "at least one path element"));
}

#[test]
fn cmd_args_container_rules() {
    let both = errors_for(&parse(json!({"id":"a","cmd":"c","args":["x"]})));
    assert!(has(&both, "/", CMD_ARGS_CONTAINER));
    let neither = errors_for(&parse(json!({"id":"a"})));
    assert!(has(&neither, "/", CMD_ARGS_CONTAINER));
    let empty = errors_for(&parse(json!({"id":"a","cmd":""})));
    assert!(has(&empty, "/cmd", "must not be an empty string"));
    // image alone is enough; args alone is enough; empty args = none
    assert_eq!(
        validate(&parse(
            json!({"id":"a","container":{"docker":{"image":"nginx"}}})
        )),
        Ok(())
    );
    assert_eq!(validate(&parse(json!({"id":"a","args":["x"]}))), Ok(()));
    assert_eq!(
        validate(&parse(json!({"id":"a","cmd":"c","args":[]}))),
        Ok(())
    );
    // a container without image does not count
    let v = errors_for(&parse(
        json!({"id":"a","container":{"type":"MESOS","volumes":[]}}),
    ));
    assert!(has(&v, "/", CMD_ARGS_CONTAINER));
}

#[test]
fn negative_resources_and_counters() {
    let v = errors_for(&parse(
        json!({"id":"a","cmd":"c","cpus":-1,"mem":-5,"disk":-1,"gpus":-1,
        "instances":-1,"backoffFactor":0.5,"backoffSeconds":-1,"maxLaunchDelaySeconds":-1}),
    ));
    assert!(
        has(&v, "/cpus", "got -1.0, expected 0.001 or more"),
        "{v:?}"
    );
    assert!(has(&v, "/mem", "got -5.0, expected 0.0 or more"));
    assert!(has(&v, "/disk", "expected 0.0 or more"));
    assert!(has(&v, "/gpus", "got -1, expected 0 or more"));
    assert!(has(&v, "/instances", "got -1, expected 0 or more"));
    assert!(has(&v, "/backoffFactor", "expected 1.0 or more"));
    assert!(has(&v, "/backoffSeconds", "expected 0 or more"));
    assert!(has(&v, "/maxLaunchDelaySeconds", "expected 0 or more"));
    assert!(has(
        &errors_for(&parse(json!({"id":"a","cmd":"c","cpus":0}))),
        "/cpus",
        "0.001"
    ));
    assert_eq!(
        validate(&parse(json!({"id":"a","cmd":"c","instances":0}))),
        Ok(())
    );
}

#[test]
fn upgrade_strategy_bounds() {
    let v = errors_for(&parse(json!({"id":"a","cmd":"c",
        "upgradeStrategy":{"minimumHealthCapacity":1.5,"maximumOverCapacity":-0.1}})));
    assert!(has(
        &v,
        "/upgradeStrategy/minimumHealthCapacity",
        "is greater than 1"
    ));
    assert!(has(
        &v,
        "/upgradeStrategy/maximumOverCapacity",
        "is less than 0"
    ));
    // partial strategy keeps the other default
    let a = parse(json!({"id":"a","cmd":"c","upgradeStrategy":{"minimumHealthCapacity":0.5}}));
    assert_eq!(a.upgrade_strategy.maximum_over_capacity, 1.0);
    assert_eq!(a.unreachable_strategy, UnreachableStrategy::DEFAULT);
}

#[test]
fn constraint_rules() {
    let good = json!([
        ["hostname", "UNIQUE"],
        ["rack", "CLUSTER", "r1"],
        ["rack", "CLUSTER"],
        ["zone", "GROUP_BY"],
        ["zone", "GROUP_BY", "3"],
        ["host", "LIKE", "web-[0-9]+"],
        ["host", "UNLIKE", "db.*"],
        ["host", "MAX_PER", 2],
        ["@zone", "IS", "a"]
    ]);
    assert_eq!(
        validate(&parse(json!({"id":"a","cmd":"c","constraints":good}))),
        Ok(())
    );
    let bad = json!([
        ["hostname"],
        ["h", "FOO"],
        ["h", "UNIQUE", "x"],
        ["h", "GROUP_BY", "many"],
        ["h", "LIKE"],
        ["h", "LIKE", "(unclosed"],
        ["h", "MAX_PER"],
        ["h", "MAX_PER", "x"],
        ["a", "CLUSTER", "b", "c"]
    ]);
    let v = errors_for(&parse(json!({"id":"a","cmd":"c","constraints":bad})));
    assert!(has(&v, "/constraints(0)", "Missing field and operator"));
    assert!(has(
        &v,
        "/constraints(1)",
        "unknown constraint operator FOO"
    ));
    assert!(has(&v, "/constraints(2)", "Value specified but not used"));
    assert!(has(&v, "/constraints(3)", "is not a number"));
    assert!(has(
        &v,
        "/constraints(4)",
        "regular expression value must be provided"
    ));
    assert!(has(&v, "/constraints(5)", "Invalid regular expression"));
    assert!(has(&v, "/constraints(6)", "Missing value"));
    assert!(has(&v, "/constraints(7)", "is not a number"));
    assert!(has(&v, "/constraints(8)", "either 2 or 3 fields"));
    // numbers are echoed as strings
    let a = parse(json!({"id":"a","cmd":"c","constraints":[["h","MAX_PER",2]]}));
    assert_eq!(out(&a)["constraints"], json!([["h", "MAX_PER", "2"]]));
}

#[test]
fn network_and_port_rules() {
    // port mappings with host networking
    let v = errors_for(&parse(
        json!({"id":"a","cmd":"c","networks":[{"mode":"host"}],
        "container":{"docker":{"image":"i"},"portMappings":[{"containerPort":80}]}}),
    ));
    assert!(has(
        &v,
        "/container/portMappings",
        "portMappings are not allowed with host-networking"
    ));
    // port definitions with bridge networking
    let v = errors_for(&parse(
        json!({"id":"a","cmd":"c","networks":[{"mode":"container/bridge"}],
        "portDefinitions":[{"port":80}],"container":{"docker":{"image":"i"}}}),
    ));
    assert!(has(
        &v,
        "/portDefinitions",
        "portDefinitions are only allowed with host-networking"
    ));
    // ranges, protocols, names
    let v = errors_for(&parse(json!({"id":"a","cmd":"c","portDefinitions":[
        {"port":70000},{"port":1,"protocol":"sctp","name":"x"},{"port":2,"name":"x"}]})));
    assert!(
        has(
            &v,
            "/portDefinitions(0)/port",
            "expected between 0 and 65535"
        ),
        "{v:?}"
    );
    assert!(has(&v, "/portDefinitions(1)/protocol", "is not one of"));
    assert!(has(&v, "/portDefinitions", "Port names must be unique."));
    let v = errors_for(&parse(
        json!({"id":"a","cmd":"c","networks":[{"mode":"container/bridge"}],
        "container":{"docker":{"image":"i"},"portMappings":[{"containerPort":80,"hostPort":-1,"name":"p"},{"containerPort":81,"name":"p"}]}}),
    ));
    assert!(has(
        &v,
        "/container/portMappings(0)/hostPort",
        "expected between 0 and 65535"
    ));
    assert!(has(
        &v,
        "/container/portMappings",
        "Port names must be unique."
    ));
    // empty docker image
    let v = errors_for(&parse(
        json!({"id":"a","cmd":"c","container":{"docker":{"image":"","privileged":true}}}),
    ));
    assert!(has(&v, "/container/docker/image", "must not be empty"));
}

#[test]
fn normalisation_conflicts_are_422_violations() {
    let cases = [
        (
            json!({"id":"a","cmd":"c","ports":[1],"portDefinitions":[{"port":2}]}),
            "/",
            "cannot specify both ports and port definitions",
        ),
        (
            json!({"id":"a","cmd":"c","uris":["u"],"fetch":[{"uri":"v"}]}),
            "/uris",
            "may not be set in conjunction with fetch",
        ),
        (
            json!({"id":"a","cmd":"c","networks":[{"mode":"host"}],"container":{"docker":{"image":"i","network":"HOST"}}}),
            "/",
            "must not specify both container.docker.network and networks",
        ),
    ];
    for (input, path, msg) in cases {
        match AppDefinition::from_value(input) {
            Err(ParseError::Invalid(v)) => assert!(has(&v, path, msg), "{v:?}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
    assert!(matches!(
        AppDefinition::from_json("{not json"),
        Err(ParseError::Json(_))
    ));
    assert!(matches!(
        AppDefinition::from_json(r#"{"id":1}"#),
        Err(ParseError::Json(_))
    ));
}

#[test]
fn health_check_rules() {
    let a = parse(json!({"id":"a","cmd":"c","healthChecks":[{"path":"/h"}]}));
    assert_eq!(validate(&a), Ok(()));
    let hc = &out(&a)["healthChecks"][0];
    assert_eq!(hc["protocol"], "HTTP");
    assert_eq!(hc["gracePeriodSeconds"], 300);
    assert_eq!(hc["intervalSeconds"], 60);
    assert_eq!(hc["timeoutSeconds"], 20);
    assert_eq!(hc["maxConsecutiveFailures"], 3);
    let v = errors_for(&parse(json!({"id":"a","cmd":"c","portDefinitions":[],
        "healthChecks":[{"protocol":"HTTP","portIndex":0},{"protocol":"FOO"},{"protocol":"COMMAND"}]})));
    assert!(has(&v, "/healthChecks(0)/portIndex", "port indices"));
    assert!(has(&v, "/healthChecks(1)/protocol", "is not one of"));
    assert!(has(&v, "/healthChecks(2)/command", "must not be empty"));
}

#[test]
fn error_body_shape() {
    let v = errors_for(&parse(json!({"id":"a","cmd":"c","cpus":-1,"instances":-2})));
    let body = error_body(&v);
    assert_eq!(
        body,
        json!({"message":"Object is not valid","details":[
            {"path":"/cpus","errors":["got -1.0, expected 0.001 or more"]},
            {"path":"/instances","errors":["got -2, expected 0 or more"]}]})
    );
    // several messages on one path are merged into one entry
    let v = errors_for(&parse(json!({"id":"/My/tasks","cmd":"c"})));
    let ids: Vec<&Violation> = v.iter().filter(|x| x.path == "/id").collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].errors.len(), 2);
}
