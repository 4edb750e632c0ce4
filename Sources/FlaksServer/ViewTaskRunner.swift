/// The tasks that run async views' jobs: each one runs a job, hands its call back to the loop and
/// waits, parked on that loop, for the loop's next async request, instead of one `Task` being made
/// and freed per request.
///
/// Why: a task's creation and end cost ~2,500 instructions per async view request (a ~1.5 KiB
/// allocation past malloc's per-thread cache, the task's mutex and status records, its executor
/// preference record pushed and dropped, the completion); a parked task is resumed for ~700.
///
/// How: a loop with no runner parked queues the `BlockingCall` for the workers, and the worker
/// that takes it starts a runner there (`Task.immediate`: the view runs at once on that worker).
/// When the job has handed over its response (`receive`), the runner posts the call back to its
/// loop together with its own continuation (one message: the inbox's lock orders both), and the
/// loop parks it (`EventLoop.park`). The loop's next async request resumes a parked runner with
/// its call; the runner's task prefers `ViewTaskExecutor`, so resuming it on the loop queues its
/// job in the loop's batch for the workers, as the blocking views' calls go.
///
/// A runner ends when its loop has enough parked (`EventLoop.maxParkedRunners`), when the loop
/// stops, or when a view cancelled its task (`withUnsafeCurrentTask { $0?.cancel() }`): a task
/// marked cancelled is not given another request. Task-local values a view binds are scoped to
/// its `withValue` and gone when it returns.
enum ViewTaskRunner {
    /// A parked runner: resumed with the next call, or with nil to end.
    typealias Parked = UnsafeContinuation<BlockingCall?, Never>

    /// On a worker: a new runner, whose first job is `call`'s. (The task's closure holds the call
    /// unretained: a captured reference would keep the first request's objects for the runner's
    /// life.)
    static func start(_ call: BlockingCall) {
        call.loop.runnersAlive.add(1, ordering: .relaxed)
        let first = Unmanaged.passRetained(call)
        Task.immediate(executorPreference: ViewTaskExecutor.shared) { await serve(first.takeRetainedValue()) }
    }

    /// The runner's loop. The call is handed to its loop with the one reference the runner held
    /// (`BlockingCall.post` consumes it), so the loop lets go of the request's objects last and
    /// frees them on the thread that made them: a call freed here put the objects' memory in this
    /// worker's malloc cache, and the loop's next allocations went to the shared arena (~700
    /// instructions per request in `_int_malloc`).
    private static func serve(_ first: consuming BlockingCall) async {
        let loop = first.loop
        defer { loop.runnersAlive.subtract(1, ordering: .relaxed) }
        var current: BlockingCall? = consume first
        while true {
            // The job is called here, not in a method of the call: each `await` returns through
            // an executor check (`swift_task_switch`), which reads the task's executor preference
            // under the task's lock (~250 instructions).
            if let call = current, let job = call.asyncJob { await job(call) }
            if Task.isCancelled {
                BlockingCall.post(current.take(), parking: nil)
                return
            }
            current = await withUnsafeContinuation { BlockingCall.post(current.take(), parking: $0) }
            if current == nil { return }
        }
    }
}
