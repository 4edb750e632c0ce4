<?php
// A form posting to itself; the answer is escaped.
$name = $_POST['name'] ?? '';
header('Cache-Control: no-store');
?>
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Form</title><link rel="stylesheet" href="style.css"></head>
<body>
  <h1>Form</h1>
<?php if ($name !== ''): ?>
  <p>Hello, <?= htmlspecialchars($name, ENT_QUOTES) ?>.</p>
<?php endif ?>
  <form method="post">
    <label>Your name <input name="name" value="<?= htmlspecialchars($name, ENT_QUOTES) ?>"></label>
    <button>Send</button>
  </form>
  <p><a href="./">back</a></p>
</body>
</html>
