//! The port's operations on [`MemoryAws`]'s state, each answering as AWS would.

use super::*;
use trailwarden_core::Reach;
use trailwarden_core::posture::owner_only;
use crate::aws::error::{policy_changed, same_policy};

impl State {
    /// The trails DescribeTrails lists in the scope: those homed in its region, and the
    /// shadows of the account's multi-region trails homed elsewhere.
    fn visible<'a>(&'a self, scope: &'a Scope) -> impl Iterator<Item = &'a ObservedTrail> + 'a {
        self.trails
            .iter()
            .filter(move |(key, trail)| {
                key.account == account(scope) && (key.region == scope.region || trail.description.settings.multi_region)
            })
            .map(|(_, trail)| trail)
    }
}

impl AwsPort for MemoryAws {
    fn fresh(&self, posture: bool) -> Option<Self> {
        self.fresh_view(posture)
    }

    async fn describe_trails(&self, scope: &Scope, _name: &str) -> AwsResult<Vec<TrailDescription>> {
        let call = self.begin(CLOUDTRAIL, "DescribeTrails")?;
        Ok(call.state.visible(scope).map(|t| t.description.clone()).collect())
    }

    async fn get_trail_status(&self, scope: &Scope, trail: &str) -> AwsResult<TrailStatus> {
        let call = self.begin(CLOUDTRAIL, "GetTrailStatus")?;
        Ok(call.trail(scope, trail)?.status.clone())
    }

    async fn get_event_selectors(&self, scope: &Scope, trail: &str) -> AwsResult<Selectors> {
        let call = self.begin(CLOUDTRAIL, "GetEventSelectors")?;
        Ok(call.trail(scope, trail)?.selectors.clone())
    }

    async fn get_insight_selectors(&self, scope: &Scope, trail: &str) -> AwsResult<Insights> {
        let call = self.begin(CLOUDTRAIL, "GetInsightSelectors")?;
        Ok(call.trail(scope, trail)?.insights.clone())
    }

    async fn list_tags(&self, scope: &Scope, trail: &str) -> AwsResult<Tags> {
        let call = self.begin(CLOUDTRAIL, "ListTags")?;
        Ok(call.trail(scope, trail)?.tags.clone())
    }

    async fn create_trail(&self, scope: &Scope, name: &str, settings: &TrailSettings, tags: &Tags) -> AwsResult<String> {
        let mut call = self.begin(CLOUDTRAIL, "CreateTrail")?;
        // A shadow holds its name in every region.
        if call.state.visible(scope).any(|t| t.description.name == name) {
            return Err(call.refuse(ErrorKind::Exists, "TrailAlreadyExistsException", format!("Trail {name} already exists")));
        }
        let settings = call.accepted(scope, settings)?;
        let arn = MemoryAws::trail_arn(scope, name);
        let key = TrailKey { account: account(scope).into(), region: scope.region.clone(), name: name.into() };
        let created = ObservedTrail::created(name, arn.clone(), &scope.region, &settings, tags);
        call.state.trails.insert(key, created);
        Ok(arn)
    }

    async fn update_trail(&self, scope: &Scope, trail: &str, _from: &TrailSettings, to: &TrailSettings) -> AwsResult<()> {
        let mut call = self.begin(CLOUDTRAIL, "UpdateTrail")?;
        let settings = call.accepted(scope, to)?;
        call.trail_mut(scope, trail)?.description.settings = settings;
        Ok(())
    }

    async fn start_logging(&self, scope: &Scope, trail: &str) -> AwsResult<()> {
        let mut call = self.begin(CLOUDTRAIL, "StartLogging")?;
        call.trail_mut(scope, trail)?.status.is_logging = true;
        Ok(())
    }

    async fn stop_logging(&self, scope: &Scope, trail: &str) -> AwsResult<()> {
        let mut call = self.begin(CLOUDTRAIL, "StopLogging")?;
        let trail = call.trail_mut(scope, trail)?;
        trail.status.is_logging = false;
        // Insights only run on a logging trail: AWS drops them when logging stops.
        trail.insights.clear();
        trail.description.has_insight_selectors = false;
        Ok(())
    }

    async fn put_event_selectors(&self, scope: &Scope, trail: &str, selectors: &Selectors) -> AwsResult<()> {
        let mut call = self.begin(CLOUDTRAIL, "PutEventSelectors")?;
        let trail = call.trail_mut(scope, trail)?;
        trail.description.has_custom_event_selectors = !selectors.is_aws_default();
        trail.selectors = selectors.clone();
        Ok(())
    }

    async fn put_insight_selectors(&self, scope: &Scope, trail: &str, insights: &Insights) -> AwsResult<()> {
        let mut call = self.begin(CLOUDTRAIL, "PutInsightSelectors")?;
        let trail = call.trail_mut(scope, trail)?;
        trail.description.has_insight_selectors = !insights.is_empty();
        trail.insights = insights.clone();
        Ok(())
    }

    async fn add_tags(&self, scope: &Scope, trail: &str, tags: &Tags) -> AwsResult<()> {
        let mut call = self.begin(CLOUDTRAIL, "AddTags")?;
        call.trail_mut(scope, trail)?.tags.extend(tags.clone());
        Ok(())
    }

    async fn remove_tags(&self, scope: &Scope, trail: &str, keys: &[String]) -> AwsResult<()> {
        let mut call = self.begin(CLOUDTRAIL, "RemoveTags")?;
        call.trail_mut(scope, trail)?.tags.retain(|key, _| !keys.contains(key));
        Ok(())
    }

    async fn delete_trail(&self, scope: &Scope, trail: &str) -> AwsResult<()> {
        let mut call = self.begin(CLOUDTRAIL, "DeleteTrail")?;
        let key = call.home_trail_key(scope, trail)?;
        call.state.trails.remove(&key);
        Ok(())
    }

    async fn account_id(&self, scope: &Scope) -> AwsResult<String> {
        // As the SDK adapter: a role's ARN names its account, only our own is asked for.
        if let Some(account) = scope.role_account() {
            return Ok(account.to_owned());
        }
        self.begin("STS", "GetCallerIdentity")?;
        Ok(OWN_ACCOUNT.to_owned())
    }

    async fn organization(&self, _scope: &Scope, _account: &str) -> AwsResult<Option<trailwarden_core::policy::Organization>> {
        let call = self.begin("Organizations", "DescribeOrganization")?;
        Ok(call.state.organization.clone())
    }

    async fn describe_bucket(&self, reach: &Reach, bucket: &str) -> AwsResult<BucketFacts> {
        let mut call = self.begin(S3, "GetBucketLocation")?;
        let Some(stored) = call.state.buckets.get(bucket).cloned() else {
            return Err(call.refuse(ErrorKind::BucketNotFound, "NoSuchBucket", format!("The bucket {bucket} does not exist")));
        };
        // Read in the adapter's order, so the call record matches.
        let public_access_block = call.fact("GetPublicAccessBlock", stored.public_access_block);
        // As the adapter: what only the owner may read is not asked for from outside.
        let outside = (!reach.as_owner).then(|| owner_only("S3", &reach.owner));
        let policy = match &outside {
            Some(why) => Err(why.clone()),
            None => call.fact("GetBucketPolicy", stored.policy),
        };
        let public_acl_grantees = call.fact("GetBucketAcl", stored.public_acl_grantees);
        let versioning = match &outside {
            Some(why) => Err(why.clone()),
            None => call.fact("GetBucketVersioning", Ok(())),
        };
        let access_log_target = call.fact("GetBucketLogging", stored.access_log_target);
        // Facts not read one by one above come as stored, so a new fact needs nothing here.
        Ok(BucketFacts {
            public_access_block,
            policy,
            public_acl_grantees,
            versioning_enabled: versioning.clone().and(stored.versioning_enabled.clone()),
            mfa_delete_enabled: versioning.and(stored.mfa_delete_enabled.clone()),
            access_log_target,
            ..stored
        })
    }

    async fn describe_key(&self, reach: &Reach, key: &str) -> AwsResult<KeyFacts> {
        let mut call = self.begin(KMS, "DescribeKey")?;
        let Some(stored) = call.state.key_arn(key).and_then(|arn| call.state.keys_by_arn.get(&arn).cloned()) else {
            return Err(call.refuse(ErrorKind::KeyNotFound, "NotFoundException", format!("Key '{key}' does not exist")));
        };
        Ok(KeyFacts {
            rotation_enabled: call.fact("GetKeyRotationStatus", stored.rotation_enabled),
            policy: match reach.as_owner {
                true => call.fact("GetKeyPolicy", stored.policy),
                false => Err(owner_only("KMS", &reach.owner)),
            },
            ..stored
        })
    }

    async fn fix_bucket(&self, _reach: &Reach, bucket: &str, fix: &BucketFix) -> AwsResult<()> {
        let mut call = match fix {
            // As the adapter: the policy is read again first and the put made only onto the
            // one it was judged from.
            BucketFix::PutBucketPolicy { before, .. } => {
                let mut call = self.begin_put(S3, "GetBucketPolicy", fix.name())?;
                if let Some(policy) = call.state.interlopers.remove(bucket)
                    && let Some(stored) = call.state.buckets.get_mut(bucket)
                {
                    stored.policy = Ok(Some(policy));
                }
                let now = match call.state.buckets.get(bucket).map(|b| b.policy.clone()) {
                    Some(Ok(now)) => now,
                    Some(Err(why)) => return Err(call.refuse(ErrorKind::AccessDenied, "AccessDenied", why)),
                    None => return Err(call.refuse(ErrorKind::BucketNotFound, "NoSuchBucket", format!("The bucket {bucket} does not exist"))),
                };
                if !same_policy(before.as_deref(), now.as_deref()) {
                    return Err(policy_changed(S3, fix.name(), &format!("the bucket policy of {bucket}")));
                }
                call.state.called(S3, fix.name())?;
                call
            }
            _ => self.begin(S3, fix.name())?,
        };
        let Some(stored) = call.state.buckets.remove(bucket) else {
            return Err(call.refuse(ErrorKind::BucketNotFound, "NoSuchBucket", format!("The bucket {bucket} does not exist")));
        };
        call.state.buckets.insert(bucket.to_owned(), fix.applied_to(stored));
        Ok(())
    }

    async fn fix_key(&self, _reach: &Reach, key_arn: &str, fix: &KeyFix) -> AwsResult<()> {
        let mut call = match fix {
            KeyFix::PutKeyPolicy { before, .. } => {
                let mut call = self.begin_put(KMS, "GetKeyPolicy", fix.name())?;
                let Some(arn) = call.state.key_arn(key_arn) else {
                    return Err(call.refuse(ErrorKind::KeyNotFound, "NotFoundException", format!("Key '{key_arn}' does not exist")));
                };
                if let Some(policy) = call.state.interlopers.remove(&arn) {
                    call.state.keys_by_arn.get_mut(&arn).expect("key_arn names a stored key").policy = Ok(policy);
                }
                let now = match call.state.keys_by_arn[&arn].policy.clone() {
                    Ok(now) => now,
                    Err(why) => return Err(call.refuse(ErrorKind::AccessDenied, "AccessDeniedException", why)),
                };
                if !same_policy(Some(before), Some(&now)) {
                    return Err(policy_changed(KMS, fix.name(), &format!("the key policy of {arn}")));
                }
                call.state.called(KMS, fix.name())?;
                call
            }
            _ => self.begin(KMS, fix.name())?,
        };
        let Some(arn) = call.state.key_arn(key_arn) else {
            return Err(call.refuse(ErrorKind::KeyNotFound, "NotFoundException", format!("Key '{key_arn}' does not exist")));
        };
        let stored = call.state.keys_by_arn.remove(&arn).expect("key_arn names a stored key");
        call.state.keys_by_arn.insert(arn, fix.applied_to(stored));
        Ok(())
    }

    async fn publish(&self, _scope: &Scope, topic_arn: &str, subject: &str, message: &str) -> AwsResult<()> {
        let mut call = self.begin("SNS", "Publish")?;
        let published = Published { topic_arn: topic_arn.into(), subject: subject.into(), message: message.into() };
        call.state.published.push(published);
        Ok(())
    }
}
