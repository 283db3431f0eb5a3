package audit

// Origin says who made a request and from where; domain services stamp it
// on the events they record.
type Origin struct {
	Actor     string
	IP        string
	UserAgent string
}

// Event starts an event of this origin about resource/resourceID.
func (o Origin) Event(eventType, resource, resourceID, action, result string) Event {
	return Event{EventType: eventType, User: o.Actor, IPAddress: o.IP, UserAgent: o.UserAgent,
		Resource: resource, ResourceID: resourceID, Action: action, Result: result}
}
