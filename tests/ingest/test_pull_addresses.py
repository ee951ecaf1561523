"""Where HTTP pull jobs may connect: the host allowlist and the address rules, at creation
and again at fetch; redirects are not followed."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from libs.common.lake import Lake
from services.ingest.config import IngestSettings
from services.ingest.pull.addresses import HostPolicy, address_refusal, host_allowed
from services.ingest.pull.runner import run_pull
from tests.ingest import pull_support
from tests.ingest.pull_support import (
    JsonApi,
    create,
    http_job,
    job_row,
    private_ok,
    sql,
)

# fixtures pytest finds in this module's namespace
admin = pull_support.admin
api_settings = pull_support.api_settings
json_api = pull_support.json_api


# --- where HTTP jobs may connect --------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/x", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.1.2.3/x", "private"),
        ("http://192.168.1.20/x", "private"),
        ("http://[::1]/x", "loopback"),
        ("http://[fe80::1]/x", "link-local"),
        ("http://[fd00::1]/x", "private"),
        ("http://[::ffff:169.254.169.254]/x", "link-local"),
        ("http://0.0.0.0/x", "unspecified"),
        ("http://224.0.0.1/x", "multicast"),
        ("http://localhost:8080/x", "resolves to an address that is a loopback"),
        ("http://user:pw@api.example.com/x", "credentials"),
    ],
)
async def test_http_url_to_a_forbidden_address_is_refused_at_creation(
    admin: Any, api_settings: dict[str, Any], url: str, reason: str
) -> None:
    api_settings.update(ingest_pull_allowed_hosts="*", ingest_pull_allow_private_addresses=False)
    reply = await admin.post("/v1/pull-jobs", json=http_job(url))
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    errors = reply.json()["errors"]
    assert errors[0]["field"] == "source.url" and reason in errors[0]["reason"], errors
    assert "user:pw" not in reply.text


async def test_http_sources_are_off_until_hosts_are_allowed(
    admin: Any, api_settings: dict[str, Any]
) -> None:
    api_settings.update(ingest_pull_allowed_hosts="")
    off = await admin.post("/v1/pull-jobs", json=http_job("https://api.example.com/moods"))
    assert off.status_code == 422
    assert "MINDLAKE_INGEST_PULL_ALLOWED_HOSTS" in off.json()["errors"][0]["reason"]
    api_settings.update(ingest_pull_allowed_hosts="partner.example.org")
    other = await admin.post("/v1/pull-jobs", json=http_job("https://api.example.com/moods"))
    assert other.status_code == 422 and "not in" in other.json()["errors"][0]["reason"]
    # allowing private addresses never allows link-local ones (the cloud metadata service)
    api_settings.update(ingest_pull_allowed_hosts="*", ingest_pull_allow_private_addresses=True)
    metadata = await admin.post("/v1/pull-jobs", json=http_job("http://169.254.169.254/"))
    assert metadata.status_code == 422 and "link-local" in metadata.text


def test_allowlist_entries_match_hosts_and_their_subdomains() -> None:
    policy = HostPolicy.of(
        IngestSettings(ingest_pull_allowed_hosts=" Example.com , *.partner.io,api.x.org,[::1]")
    )
    assert policy.allowed == ("example.com", "partner.io", "api.x.org", "::1")
    for host in ("example.com", "a.b.example.com", "partner.io", "eu.partner.io", "api.x.org"):
        assert host_allowed(policy, host), host
    for host in ("badexample.com", "example.com.evil.net", "x.org", "v2.api.x.org.evil", "::2"):
        assert not host_allowed(policy, host), host
    assert host_allowed(policy, "0:0::1")  # an IP literal matches by value


def test_address_rules() -> None:
    def refused(address: str, allow_private: bool = False) -> str | None:
        return address_refusal(ipaddress.ip_address(address), allow_private=allow_private)

    assert refused("93.184.216.34") is None and refused("2606:4700::1111") is None
    assert "link-local" in (refused("169.254.169.254", allow_private=True) or "")
    assert "link-local" in (refused("64:ff9b::a9fe:a9fe") or "")  # NAT64 of the metadata IP
    assert "private" in (refused("100.64.0.1") or "")  # shared (carrier-grade NAT) space
    assert refused("10.0.0.1", allow_private=True) is None
    assert refused("127.0.0.1", allow_private=True) is None
    assert "multicast" in (refused("ff02::1", allow_private=True) or "")


async def test_a_name_resolving_to_a_private_address_is_refused_at_fetch(
    admin: Any, api_settings: dict[str, Any], lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    """The rules apply again after DNS resolution at run time: a job saved while a name was
    allowed (or resolved elsewhere) cannot reach a private address later."""
    json_api.items.append({"id": 1, "text": "note"})
    job = await create(admin, http_job(f"http://localhost:{json_api.port}/moods"))
    strict = lake_settings.model_copy(update={"ingest_pull_allowed_hosts": "localhost"})
    assert not strict.ingest_pull_allow_private_addresses  # the default

    report = await run_pull(job["id"], strict, Lake(strict))
    assert report.state == "failed"
    assert "resolves to an address that is a loopback address" in (report.reason or "")
    assert json_api.hits == []  # refused before any connection
    assert "loopback" in ((await job_row(job["id"]))["last_error"] or "")

    allowed = private_ok(lake_settings, "localhost")
    assert (await run_pull(job["id"], allowed, Lake(allowed))).rows == 1
    assert json_api.hits  # the same job runs once private addresses are allowed


async def test_a_stored_url_to_the_metadata_address_is_refused_at_fetch(
    admin: Any, api_settings: dict[str, Any], lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    """A row that bypassed the creation check (written before the rules, or by hand)."""
    job = await create(admin, http_job(json_api.url))
    source = {**(await job_row(job["id"]))["source"], "url": "http://169.254.169.254/latest/"}
    await sql(
        "UPDATE ingest.pull_jobs SET source = CAST(:s AS jsonb) WHERE id = :i",
        s=json.dumps(source),
        i=job["id"],
    )
    settings = lake_settings.model_copy(
        update={"ingest_pull_allowed_hosts": "*", "ingest_pull_allow_private_addresses": True}
    )
    report = await run_pull(job["id"], settings, Lake(settings))
    assert report.state == "failed" and "link-local" in (report.reason or "")
    assert "ConnectError" not in (report.reason or "")  # never tried to connect


async def test_a_redirect_is_not_followed(
    admin: Any, api_settings: dict[str, Any], lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    job = await create(admin, http_job(f"http://127.0.0.1:{json_api.port}/redirect"))
    settings = private_ok(lake_settings)
    report = await run_pull(job["id"], settings, Lake(settings))
    assert report.state == "failed" and "redirects are not followed" in (report.reason or "")
    assert json_api.hits == ["/redirect"]  # the only request made
