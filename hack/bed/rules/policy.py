"""A small evaluator of policies for one request: resource-based policies (bucket policies,
key policies), which name their principals, and policies attached to those they govern
(service control policies, identity-based policies), which name none.

How AWS reads such a policy (IAM User Guide, policy evaluation logic and the JSON element
reference):
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html

In short: a statement applies when its principal, action, resource and every condition
match; an applicable Deny beats any Allow; without an applicable Allow nothing is granted.

The evaluator never guesses in the requester's favour. Every match is True, False or None
(cannot tell: an operator, condition key, policy variable or element it does not model).
An Allow grants only when it surely applies; a Deny (or a statement whose effect it cannot
read) counts unless it surely does not apply.

The request's condition context is a dict: key -> value (a string) for keys the request
carries, key -> None for keys it knows the request lacks. Any other key is unknown.
Condition keys are case-insensitive, as in AWS.
"""

import json
import re

ALLOWED = "allowed"
DENIED = "denied"
NOT_GRANTED = "not granted"


def evaluate(document, principal, action, resource, context):
    """ALLOWED, DENIED or NOT_GRANTED for `principal` (("Service", "cloudtrail.amazonaws.com"),
    ("AWS", "arn:aws:iam::111122223333:root") or ("AWS", "111122223333")) doing `action`
    on `resource`, given the resource-based policy `document` (a JSON string, or None for
    no policy)."""
    return _evaluate(document, lambda statement: _principal(statement, principal), action, resource, context)


def evaluate_attached(document, action, resource, context):
    """ALLOWED, DENIED or NOT_GRANTED for the request `action` on `resource`, given a policy
    `document` attached to whom it governs: a service control policy (attached to a root,
    OU or account, it governs the principals of the accounts below) or an identity-based
    policy. Such statements name no principal: the request's principal is in the condition
    context (aws:PrincipalArn, aws:PrincipalAccount). A statement with a Principal or
    NotPrincipal element is one these policies may not hold, so the evaluator cannot read it.
    https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_syntax.html
    """
    return _evaluate(document, _no_principal, action, resource, context)


def _no_principal(statement):
    return None if "Principal" in statement or "NotPrincipal" in statement else True


def _evaluate(document, principal_matches, action, resource, context):
    try:
        statements = json.loads(document)["Statement"] if document else []
    except (ValueError, TypeError, KeyError):
        return NOT_GRANTED
    if isinstance(statements, dict):
        statements = [statements]
    context = {k.lower(): v for k, v in context.items()}
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        applies = _all(
            [
                principal_matches(statement),
                _element(statement, "Action", action, ignore_case=True),
                _element(statement, "Resource", resource, ignore_case=False),
                _conditions(statement.get("Condition", {}), context),
            ]
        )
        if statement.get("Effect") == "Allow":
            allowed = allowed or applies is True
        elif applies is not False:
            return DENIED
    return ALLOWED if allowed else NOT_GRANTED


def _all(results):
    """Three-valued AND."""
    if False in results:
        return False
    return None if None in results else True


def _any(results):
    """Three-valued OR."""
    if True in results:
        return True
    return None if None in results else False


def _not(result):
    return None if result is None else not result


def _listed(value):
    return value if isinstance(value, list) else [value]


def _glob(pattern, value, ignore_case=False):
    """`*` matches any run of characters, `?` any one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _element(statement, name, value, ignore_case):
    """Action/NotAction or Resource/NotResource against the request's action or resource."""
    if name in statement:
        patterns, negated = statement[name], False
    elif "Not" + name in statement:
        patterns, negated = statement["Not" + name], True
    else:
        return None
    patterns = _listed(patterns)
    if not patterns or not all(isinstance(p, str) for p in patterns) or any("${" in p for p in patterns):
        return None
    matched = any(_glob(p, value, ignore_case) for p in patterns)
    return matched != negated


def _principal(statement, principal):
    if "Principal" in statement:
        return _names(statement["Principal"], principal)
    if "NotPrincipal" in statement:
        return _not(_names(statement["NotPrincipal"], principal))
    return None


def _names(spec, principal):
    """Whether a Principal element names `principal`: "*", {"AWS": "*"}, a service principal,
    an account (id or root ARN, which names every principal of that account) or an exact ARN."""
    if spec == "*":
        return True
    if not isinstance(spec, dict):
        return None
    kind, name = principal
    results = []
    for key, values in spec.items():
        for value in _listed(values):
            if not isinstance(value, str):
                results.append(None)
            elif key == "AWS" and value == "*":
                results.append(True)
            elif key == "Service":
                results.append(kind == "Service" and value.lower() == name.lower())
            elif key == "AWS":
                results.append(kind == "AWS" and _same_aws_principal(value, name))
            elif key in ("Federated", "CanonicalUser"):
                results.append(False if kind != key else None)
            else:
                results.append(None)
    return _any(results)


def _root(value):
    return f"arn:aws:iam::{value}:root" if re.fullmatch(r"\d{12}", value) else value


def _same_aws_principal(listed, requester):
    listed, requester = _root(listed), _root(requester)
    if listed == requester:
        return True
    account = lambda arn: arn.split(":")[4] if arn.count(":") >= 5 else None  # noqa: E731
    return listed.endswith(":root") and account(listed) is not None and account(listed) == account(requester)


def _arn_like(pattern, value):
    """ArnEquals/ArnLike: each of the six colon-separated parts is matched on its own."""
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6:
        return None
    if len(value_parts) != 6:
        return False
    return all(_glob(p, v) for p, v in zip(pattern_parts, value_parts))


def _bool(pattern, value):
    return pattern.lower() == value.lower()


# operator -> (how one policy value matches the request's value, whether the operator is negated)
OPERATORS = {
    "StringEquals": (lambda p, v: p == v, False),
    "StringNotEquals": (lambda p, v: p == v, True),
    "StringLike": (_glob, False),
    "StringNotLike": (_glob, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
}


def _conditions(block, context):
    """All operators, and within each operator all keys, must match (AND)."""
    if not isinstance(block, dict):
        return None
    results = []
    for operator, keys in block.items():
        if not isinstance(keys, dict) or not keys:
            results.append(None)
            continue
        results.extend(_condition(operator, key, values, context) for key, values in keys.items())
    return _all(results)


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else None


def _condition(operator, key, values, context):
    """One key under one operator; the policy's values are alternatives (OR)."""
    key = key.lower()
    if key not in context:
        return None
    actual = context[key]
    patterns = [_text(v) for v in _listed(values)]
    if not patterns or None in patterns or any("${" in p for p in patterns):
        return None
    if operator == "Null":
        return _any([(p.lower() == "true") == (actual is None) if p.lower() in ("true", "false") else None for p in patterns])
    if_exists = operator.endswith("IfExists")
    match, negated = OPERATORS.get(operator[: -len("IfExists")] if if_exists else operator, (None, None))
    if match is None:
        return None
    if actual is None:
        # A missing key: ...IfExists holds, a negated operator holds, a positive one fails.
        return if_exists or negated
    matched = _any([match(p, actual) for p in patterns])
    return _not(matched) if negated else matched
