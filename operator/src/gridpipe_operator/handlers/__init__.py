"""One module per event the operator reacts to. Each is a plain function of the operator and the event's data;
``gridpipe_operator.main`` registers them with kopf."""
