//! The places the checker records in the IR for tools that point into the
//! spec after it has been checked (`snnc run`'s data and params
//! diagnostics, `snnc diagnose` and its `--fix`): each span covers the text
//! it names, so nothing downstream reads the spec text again.

use snnc_compiler::check_source;

const SPEC: &str = r#"network tiny {
    input x: 4
    hidden = dense(x, units=3, activation=relu)
    out = dense(hidden, units=2)
}

convert spiking from tiny {
    swap relu -> spiking_relu
    scale_firing_rates = 20
    scale hidden = 40
}

probe pred = out

run {
    network = spiking
    params  = "p.npz"
    data    = npz("d.npz")
    present = 30ms
}

run quick {
    network = spiking
    params  = "p.npz"
    data    = npz("d.npz")
    steps   = 25
}
"#;

#[test]
fn runs_and_variants_keep_the_places_of_their_settings() {
    let checked = check_source(SPEC);
    assert!(checked.diagnostics.is_empty(), "{:#?}", checked.diagnostics);
    let program = checked.program.unwrap();
    let text = |span: snnc_compiler::span::Span| &SPEC[span.start..span.end];

    let run = &program.runs[0];
    assert_eq!(text(run.params_span), "\"p.npz\"");
    assert_eq!(text(run.data.span), "npz(\"d.npz\")");
    assert_eq!(text(run.steps_span), "present = 30ms");
    assert_eq!(text(program.runs[1].steps_span), "steps   = 25");

    let variant = program.models.iter().find(|m| m.name == "spiking").unwrap();
    let places = &variant.places;
    assert_eq!(text(places.header.unwrap()), "convert spiking from tiny {");
    assert_eq!(&SPEC[places.close.unwrap()..][..1], "}");
    assert_eq!(
        text(places.global_scale.unwrap()),
        "scale_firing_rates = 20"
    );
    assert_eq!(
        text(places.layer_scale("hidden").unwrap()),
        "scale hidden = 40"
    );
    assert_eq!(places.layer_scale("out"), None);
    // A network's own rate model is no block of settings.
    let rate = program.models.iter().find(|m| m.name == "tiny").unwrap();
    assert_eq!(rate.places, Default::default());
}
