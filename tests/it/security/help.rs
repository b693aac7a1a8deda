//! ASVS 8.3.4 / 14.3: `--help` shows which variables are set, never their
//! secret values (a database URL holds a password, the LLM key is a key).

use crate::helpers::casebook_with;

#[tokio::test]
async fn help_never_prints_the_values_of_secret_settings() {
    let secrets = [
        (
            "CASEBOOK_DATABASE_URL",
            "postgres://casebook:db-s3cret@db.internal/casebook",
        ),
        ("CASEBOOK_LLM_API_KEY", "sk-llm-s3cret"),
        (
            "CASEBOOK_LLM_URL",
            "https://user:url-s3cret@llm.internal/v1",
        ),
        ("CASEBOOK_METRICS_TOKEN", "metrics-s3cret"),
    ];
    for command in [
        &["serve", "--help"][..],
        &["migrate", "--help"],
        &["backup", "--help"],
    ] {
        let help = casebook_with(command, &secrets, "").await;
        let help = help.succeeded();
        assert!(help.contains("CASEBOOK_DATABASE_URL"), "{help}");
        for secret in ["db-s3cret", "sk-llm-s3cret", "url-s3cret", "metrics-s3cret"] {
            assert!(!help.contains(secret), "{command:?} printed {secret}");
        }
    }
}
