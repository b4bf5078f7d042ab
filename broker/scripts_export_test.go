package broker

// ScriptFS gives the external tests the scripts compiled into the package
// (see injection_test.go), rather than the files as they are on disk now.
var ScriptFS = scriptFS
