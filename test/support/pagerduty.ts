// The fake PagerDuty (test/fakes/pagerduty) as the integration tests set it up for the app:
// served over HTTPS with the run's certificate, seeded with the services firebreak.yml routes
// to (each on an escalation policy of its own), and the env that points the app at it.
//
//   const pagerDuty = await startPagerDutyForApp([{ id: "PCHKSVC1", name: "Checkout", policyId: "PCHKPOL1", routingKey: CHECKOUT_KEY }]);
//   pd = pagerDuty.pd;
//   afterAll(() => pd?.close());
//   app = await startTestApp({ slack, env: { ...pagerDuty.env, FIREBREAK_CONFIG: configFile } });
//
// What a test needs beyond that (users, on-calls, PAGERDUTY_TOKEN for the REST API, a webhook
// secret) it adds itself, on the returned fake and env.
import { inject } from "vitest";
import { startFakePagerDuty, type FakePagerDuty, type FakePagerDutyOptions } from "../fakes/pagerduty/index.ts";

/** A PagerDuty service on an escalation policy of its own, "<name> on-call". */
export interface PagerDutyServiceSeed {
  /** The service's id, e.g. "PCHKSVC1". */
  id: string;
  /** The service's name, e.g. "Checkout". */
  name: string;
  /** The escalation policy's id (a service's `pagerduty.escalationPolicy` in firebreak.yml; what `pd.setOnCall` takes). */
  policyId: string;
  /** The Events API v2 integration key, 32 characters: the service's `pagerduty.routingKey` in firebreak.yml. */
  routingKey: string;
}

export interface PagerDutyForApp {
  /** The running fake; the test closes it. */
  readonly pd: FakePagerDuty;
  /** The app's env for it: both APIs at the fake's URL. */
  readonly env: { readonly PAGERDUTY_API_URL: string; readonly PAGERDUTY_EVENTS_URL: string };
}

/** Starts the fake PagerDuty with the run's TLS certificate (`inject("tls")`) and `services` on it. */
export async function startPagerDutyForApp(services: readonly PagerDutyServiceSeed[], options: Omit<FakePagerDutyOptions, "tls"> = {}): Promise<PagerDutyForApp> {
  const pd = await startFakePagerDuty({ ...options, tls: inject("tls") });
  try {
    for (const service of services) {
      const policy = pd.addEscalationPolicy({ id: service.policyId, name: `${service.name} on-call` });
      pd.addService({ id: service.id, name: service.name, escalationPolicyId: policy.id, integrationKey: service.routingKey });
    }
  } catch (error) {
    await pd.close();
    throw error;
  }
  return { pd, env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_EVENTS_URL: pd.url } };
}
