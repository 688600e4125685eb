Gem::Specification.new do |s|
  s.name = "greeting"
  s.version = "1.0.0"
  s.files = ["lib/greeting.rb"]
end
