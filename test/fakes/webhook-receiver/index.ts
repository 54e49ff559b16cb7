export { startWebhookReceiver, type Delivery, type WebhookReceiver, type WebhookReceiverOptions } from "./server.ts";
