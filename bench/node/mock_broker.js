'use strict';
// The one thing kafkajs needs to work with `taxdesk broker` (librdkafka 2.0.2's mock cluster): that mock answers
// Metadata with ControllerId 0 while its brokers are numbered from 1 (kafkajs's describeCluster() shows
// `controller: 0`, `brokers: [{nodeId: 1, …}]`), and kafkajs's idempotent producer sends its InitProducerId to the
// controller (producer/eosManager: "If non-transactional we can request the PID from any broker", then
// cluster.findControllerBroker()), so producer.connect() fails with KafkaJSBrokerNotFound "Broker 0 not found in the
// cached metadata". A Kafka broker answers a non-transactional InitProducerId on any broker (the Java client sends
// it to the least loaded one), so when the controller named is not a known broker, any known broker stands in.
// Nothing else in kafkajs asks for the controller on this path (groups use FindCoordinator), and InitProducerId is
// sent once, at connect, outside the measured window.
const Cluster = require('kafkajs/src/cluster');

let installed = false;

function allowAnyBrokerAsController() {
  if (installed) return;
  installed = true;
  const original = Cluster.prototype.findControllerBroker;
  Cluster.prototype.findControllerBroker = async function findControllerBroker() {
    try {
      return await original.call(this);
    } catch (error) {
      const metadata = this.brokerPool && this.brokerPool.metadata;
      if (error.name !== 'KafkaJSBrokerNotFound' || !metadata || !metadata.brokers || metadata.brokers.length === 0) throw error;
      return await this.findBroker({ nodeId: metadata.brokers[0].nodeId });
    }
  };
}

module.exports = { allowAnyBrokerAsController };
