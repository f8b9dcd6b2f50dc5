//! Pending changes: staged values against what a release last deployed, per level, and the
//! selection of levels a release or rollback covers.

use super::*;

/// One level of one workload whose staged values differ from the deployed ones.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) workload_id: String,
    pub(crate) workload: String,
    pub(crate) environment: String,
    pub(crate) tenant: String,
    pub(crate) staged: Json,
    pub(crate) deployed: Json,
    pub(crate) base_release: Option<String>,
}

impl Pending {
    pub(crate) fn changes(&self) -> Vec<Change> {
        let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
        diff(&self.deployed, &self.staged)
            .into_iter()
            .map(|(path, before, after)| Change {
                workload: self.workload.clone(),
                tenant: opt(&self.tenant),
                environment: opt(&self.environment),
                path,
                before,
                after,
            })
            .collect()
    }

    pub(crate) fn target(&self) -> Json {
        json!({
            "workloadId": self.workload_id,
            "workload": self.workload,
            "environment": self.environment,
            "tenant": self.tenant,
            "values": self.staged,
            "base": self.base_release,
        })
    }
}

pub(crate) fn pending(tx: &Tx<'_>, org_id: &str, p: &Resource) -> ApiResult<Vec<Pending>> {
    let mut out = Vec::new();
    for w in tx.resources(org_id, Some(&p.id), "workload")? {
        let mut levels = tx.values_levels(&w.id)?;
        if !levels.iter().any(|(e, t, _)| e.is_empty() && t.is_empty()) {
            levels.insert(0, (String::new(), String::new(), None));
        }
        for (environment, tenant, staged) in levels {
            let staged = match staged {
                Some(v) => v,
                // Never edited: the workload's own default values are staged.
                None if environment.is_empty() && tenant.is_empty() => {
                    w.spec.get("values").cloned().unwrap_or(json!({}))
                }
                None => json!({}),
            };
            let (deployed, base_release) = match tx.deployed_values(&w.id, &environment, &tenant)? {
                Some((v, r)) => (v, Some(r)),
                None => (json!({}), None),
            };
            if deployed != staged {
                out.push(Pending {
                    workload_id: w.id.clone(),
                    workload: w.name.clone(),
                    environment,
                    tenant,
                    staged,
                    deployed,
                    base_release,
                });
            }
        }
    }
    Ok(out)
}

pub(crate) async fn changes(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<AxumJson<Json>> {
    let name = param(&path, "project");
    blocking(
        &hub,
        move |tx| {
            let p = project(tx, &caller.org.id, &name)?;
            let items: Vec<Json> = pending(tx, &caller.org.id, &p)?
                .iter()
                .map(|l| {
                    json!({
                        "workload": l.workload,
                        "environment": (!l.environment.is_empty()).then_some(&l.environment),
                        "tenant": (!l.tenant.is_empty()).then_some(&l.tenant),
                        "changes": l.changes(),
                    })
                })
                .collect();
            Ok(AxumJson(json!({ "items": items })))
        },
        false,
    )
    .await
}

/// Which levels a release or rollback covers: empty lists cover everything, and a
/// workload-wide (or all-tenant) level is covered by any environment (or tenant) list.
pub(crate) struct Selection<'a> {
    pub(crate) environments: &'a [String],
    pub(crate) tenants: &'a [String],
    pub(crate) workloads: &'a [String],
}

impl Selection<'_> {
    /// Each name must exist in the project; the error names the field.
    pub(crate) fn check(&self, tx: &Tx<'_>, org_id: &str, p: &Resource) -> ApiResult<()> {
        for (field, kind, names) in [
            ("environments", "project_environment", self.environments),
            ("tenants", "project_tenant", self.tenants),
            ("workloads", "workload", self.workloads),
        ] {
            for (i, x) in names.iter().enumerate() {
                if tx.resource(org_id, Some(&p.id), kind, x)?.is_none() {
                    return Err(ApiError::invalid(
                        format!("{field}[{i}]"),
                        format!("`{x}` is not in project `{}`", p.name),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn covers(&self, workload: &str, environment: &str, tenant: &str) -> bool {
        let within = |list: &[String], x: &str| {
            x.is_empty() || list.is_empty() || list.iter().any(|l| l == x)
        };
        (self.workloads.is_empty() || self.workloads.iter().any(|w| w == workload))
            && within(self.environments, environment)
            && within(self.tenants, tenant)
    }
}
