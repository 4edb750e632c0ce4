<?php
// The example PHP site: served by Flaks through php-fpm (see php-fpm.conf and config.yaml).
// This file is also the front controller: every path under /php/ that names no file comes here,
// with REQUEST_URI intact (pretty URLs).
$h = fn($s) => htmlspecialchars((string)$s, ENT_QUOTES);
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$base = rtrim(dirname($_SERVER['SCRIPT_NAME']), '/') . '/';       // the mount: /php/
$routed = $_SERVER['SCRIPT_NAME'] !== $path && $path !== $base;
?>
<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>PHP on Flaks</title>
  <link rel="stylesheet" href="<?= $h($base) ?>style.css">
</head>
<body>
  <h1>PHP <?= $h(PHP_VERSION) ?> on Flaks</h1>
<?php if ($routed): ?>
  <p class="note">No file at <code><?= $h($path) ?></code>: the front controller answered
     (<code>front_controller: /index.php</code>), as a framework's router would.</p>
<?php endif ?>
  <ul>
    <li><a href="<?= $h($base) ?>form.php">a form</a> (POST, escaped output)</li>
    <li><a href="<?= $h($base) ?>info.php/some/path?x=1">the request as PHP sees it</a> (SCRIPT_NAME, PATH_INFO, REQUEST_URI)</li>
    <li><a href="<?= $h($base) ?>articles/2024/hello-world">a pretty URL</a> (no such file: the front controller)</li>
    <li><a href="<?= $h($base) ?>notes/">a directory</a> (its index)</li>
    <li><a href="<?= $h($base) ?>style.css">style.css</a> (a static file next to the scripts: ETag, ranges)</li>
  </ul>
</body>
</html>
