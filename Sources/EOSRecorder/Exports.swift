// The run layer (RunConfig, DataSpec, Preset, GDChain, ...) is part of the recorder's API: code
// that imports EOSRecorder sees it without a second import.
@_exported import EOSRun
